{
  "targets": [
    {
      "target_name": "pathbox_jpeg",
      "sources": ["binding.c", "codec.c"],
      "libraries": ["-ljpeg"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
