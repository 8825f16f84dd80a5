/* libjpeg-turbo decoding and encoding for pathbox's native JPEG binding (binding.c); no Node-API here. */
#ifndef PATHBOX_JPEG_CODEC_H
#define PATHBOX_JPEG_CODEC_H
#include <stddef.h>
#include <stdint.h>

/* Errors that start with this are a frame beyond the pixels allowed, not corrupt data. */
#define TOO_LARGE_PREFIX "TOO_LARGE:"

/* Where decoded rows go: a whole image (part NULL) or one part of it at (at_x, at_y) of a wider target. */
typedef struct {
  uint32_t x, y, width, height, at_x, at_y;
} part_spec;


int decode_one(const unsigned char *input, size_t length, int scale, double max_pixels, const part_spec *part,
               unsigned char *target, size_t target_length, uint32_t target_width, unsigned char **allocated,
               uint32_t *width_out, uint32_t *height_out, char *error, size_t error_size);

/* A baseline 4:2:0 JPEG of RGB pixels in a buffer malloc'd here (*out, *out_length). Returns 0, or -1 with the reason in `error`. */
int encode_one(const unsigned char *rgb, uint32_t width, uint32_t height, int quality, unsigned char **out, size_t *out_length,
               char *error, size_t error_size);

#endif
