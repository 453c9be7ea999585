"""The website chat widget: static assets (widget.js, demo.html) and the feedback store."""
