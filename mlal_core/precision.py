"""Names of the numeric precisions a session, an encoder or a model can run in.

``auto`` means bf16 where the CPU has native bf16 (or on CUDA), else fp32; fp16 only on CUDA
(``features.device.resolve_precision`` decides). Kept free of torch so configs validate without it.
"""

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
