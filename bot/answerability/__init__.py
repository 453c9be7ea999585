"""Answerability: does the help center answer this question, or should a person take it?"""
