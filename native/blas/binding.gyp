{
  "targets": [
    {
      "target_name": "glow_blas",
      "sources": ["gemm.c"],
      "cflags": ["-O2"],
      "libraries": ["-lopenblas"]
    }
  ]
}
