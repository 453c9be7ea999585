"""Where and how the local models run; used by both `bot.embedding` and `bot.rerank`.

`runtime` picks torch or OpenVINO, `precision` fp32/bf16/int8, `devices` the device and
torch's threads, `batching` the length-sorted batches. The cross-encoder's forward pass:
`encoder_runtime` (protocol and builder) with `torch_runtime` and `openvino_runtime`,
driven by `cross_encoder_model`; the embedder's OpenVINO path: `openvino_encoder`.
Converted OpenVINO models are kept on disk (`model_cache`, `openvino_cache`) with the
Rust tokenizer (`fast_tokenizer`), so a start after the first needs no torch.
"""
