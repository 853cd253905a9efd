"""Physical models: free-space optics, noise and quantization."""
