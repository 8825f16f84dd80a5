{
  "targets": [
    {
      "target_name": "pathbox_jpeg",
      "sources": ["jpeg.c"],
      "libraries": ["-ljpeg"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
