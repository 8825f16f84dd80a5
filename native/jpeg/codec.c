/*
 * libjpeg-turbo decoding and encoding for pathbox's native JPEG binding (binding.c says what the binding
 * offers and why). Everything here runs on a pool thread: no Node-API, no JavaScript values.
 */
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include "codec.h"

/* A progressive stream may declare any number of scans; each costs a pass over the whole image. */
#define MAX_SCANS 500
/* Rows asked of libjpeg per call: it hands out whole row groups, and one row at a time costs it a copy. */
#define ROWS_PER_READ 16

typedef struct {
  struct jpeg_error_mgr base;
  jmp_buf escape;
  char message[JMSG_LENGTH_MAX + 64];
} codec_error;

static void fail_with_message(j_common_ptr cinfo) {
  codec_error *err = (codec_error *)cinfo->err;
  (*cinfo->err->format_message)(cinfo, err->message);
  longjmp(err->escape, 1);
}

/* Warnings (corrupt data that libjpeg papers over) stay quiet, as libvips' fail-on-error level does. */
static void ignore_message(j_common_ptr cinfo) { (void)cinfo; }

/* libjpeg's error manager, set to jump back to the caller's setjmp with the message instead of exiting. */
static struct jpeg_error_mgr *init_errors(codec_error *err) {
  jpeg_std_error(&err->base);
  err->base.error_exit = fail_with_message;
  err->base.output_message = ignore_message;
  err->message[0] = 0;
  return &err->base;
}

static void limit_scans(j_common_ptr cinfo) {
  j_decompress_ptr d = (j_decompress_ptr)cinfo;
  if (d->input_scan_number > MAX_SCANS) {
    codec_error *err = (codec_error *)cinfo->err;
    snprintf(err->message, sizeof err->message, "more than %d progressive scans", MAX_SCANS);
    longjmp(err->escape, 1);
  }
}

/*
 * Decodes one JPEG. With `part`, only that rectangle of the scaled image is decoded into `target`;
 * without, the whole image goes to `target` (or a new buffer, returned in *allocated). Returns 0, or -1
 * with the reason in `error`.
 */
int decode_one(const unsigned char *input, size_t length, int scale, double max_pixels, const part_spec *part,
               unsigned char *target, size_t target_length, uint32_t target_width, unsigned char **allocated,
               uint32_t *width_out, uint32_t *height_out, char *error, size_t error_size) {
  struct jpeg_decompress_struct cinfo;
  struct jpeg_progress_mgr progress;
  codec_error err;
  unsigned char *volatile pixels = NULL;
  unsigned char *volatile row = NULL;
  memset(&cinfo, 0, sizeof cinfo);
  cinfo.err = init_errors(&err);
  if (setjmp(err.escape)) {
    snprintf(error, error_size, "%s", err.message[0] ? err.message : "JPEG decode failed");
    jpeg_destroy_decompress(&cinfo);
    free(pixels);
    free(row);
    return -1;
  }
  jpeg_create_decompress(&cinfo);
  progress.progress_monitor = limit_scans;
  cinfo.progress = &progress;
  jpeg_mem_src(&cinfo, input, (unsigned long)length);
  jpeg_read_header(&cinfo, TRUE);
  /* Bound the frame before anything is allocated: libjpeg fills whatever the data lacks, so a forged
     header of a few bytes could otherwise cost gigabytes. */
  if ((double)cinfo.image_width * (double)cinfo.image_height > max_pixels) {
    snprintf(err.message, sizeof err.message, TOO_LARGE_PREFIX "JPEG frame %ux%u exceeds the %.0f pixels allowed here",
             cinfo.image_width, cinfo.image_height, max_pixels);
    longjmp(err.escape, 1);
  }
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    snprintf(err.message, sizeof err.message, "CMYK JPEG is not a slide tile");
    longjmp(err.escape, 1);
  }
  cinfo.out_color_space = JCS_RGB;
  cinfo.scale_num = 1;
  cinfo.scale_denom = (unsigned int)scale;
  cinfo.dct_method = JDCT_ISLOW;
  jpeg_start_decompress(&cinfo);
  size_t target_stride = (size_t)target_width * 3;

  if (part) {
    if ((uint64_t)part->x + part->width > cinfo.output_width || (uint64_t)part->y + part->height > cinfo.output_height) {
      snprintf(err.message, sizeof err.message, "part %u,%u %ux%u is outside the decoded %ux%u", part->x, part->y,
               part->width, part->height, cinfo.output_width, cinfo.output_height);
      longjmp(err.escape, 1);
    }
    if ((uint64_t)part->at_x + part->width > target_width ||
        ((uint64_t)part->at_y + part->height) * target_stride > target_length) {
      snprintf(err.message, sizeof err.message, "part %ux%u does not fit the target at %u,%u", part->width, part->height,
               part->at_x, part->at_y);
      longjmp(err.escape, 1);
    }
    /* Cropping rounds the columns out to whole iMCUs. When that adds none, rows are decoded straight into
       the target; otherwise into a buffer of that wider span, then copied. */
    JDIMENSION x_offset = part->x, span = part->width;
    if (span < cinfo.output_width) jpeg_crop_scanline(&cinfo, &x_offset, &span);
    int direct = x_offset == part->x && span == part->width;
    size_t span_bytes = (size_t)span * 3;
    if (!direct) {
      row = malloc(span_bytes * ROWS_PER_READ);
      if (!row) {
        snprintf(err.message, sizeof err.message, "out of memory for %u-pixel rows", span);
        longjmp(err.escape, 1);
      }
    }
    if (part->y > 0) jpeg_skip_scanlines(&cinfo, part->y);
    size_t skip_bytes = (size_t)(part->x - x_offset) * 3;
    for (uint32_t y = 0; y < part->height;) {
      /* Several rows per call: libjpeg hands out whole row groups, and one row at a time costs it a copy. */
      JSAMPROW rows[ROWS_PER_READ];
      uint32_t wanted = part->height - y < ROWS_PER_READ ? part->height - y : ROWS_PER_READ;
      for (uint32_t i = 0; i < wanted; i++) {
        rows[i] = direct ? target + ((size_t)(part->at_y + y + i) * target_width + part->at_x) * 3 : row + i * span_bytes;
      }
      JDIMENSION got = jpeg_read_scanlines(&cinfo, rows, wanted);
      if (got == 0) {
        snprintf(err.message, sizeof err.message, "decoder stopped at row %u of the part", y);
        longjmp(err.escape, 1);
      }
      if (!direct) {
        for (JDIMENSION i = 0; i < got; i++) {
          memcpy(target + ((size_t)(part->at_y + y + i) * target_width + part->at_x) * 3, row + i * span_bytes + skip_bytes, (size_t)part->width * 3);
        }
      }
      y += got;
    }
    /* The rows below the part are never decoded. */
    jpeg_abort_decompress(&cinfo);
    free(row);
    row = NULL;
  } else {
    size_t stride = (size_t)cinfo.output_width * 3;
    unsigned char *rows = target;
    if (target && target_length < stride * cinfo.output_height) {
      snprintf(err.message, sizeof err.message, "decoded %ux%u does not fit the %zu bytes given", cinfo.output_width,
               cinfo.output_height, target_length);
      longjmp(err.escape, 1);
    }
    if (!target) {
      rows = pixels = malloc(stride * cinfo.output_height);
      if (!pixels) {
        snprintf(err.message, sizeof err.message, "out of memory for %ux%u pixels", cinfo.output_width, cinfo.output_height);
        longjmp(err.escape, 1);
      }
    }
    while (cinfo.output_scanline < cinfo.output_height) {
      JSAMPROW lines[ROWS_PER_READ];
      JDIMENSION first = cinfo.output_scanline;
      JDIMENSION wanted = cinfo.output_height - first < ROWS_PER_READ ? cinfo.output_height - first : ROWS_PER_READ;
      for (JDIMENSION i = 0; i < wanted; i++) lines[i] = rows + stride * (first + i);
      if (jpeg_read_scanlines(&cinfo, lines, wanted) == 0) {
        snprintf(err.message, sizeof err.message, "decoder stopped at row %u", first);
        longjmp(err.escape, 1);
      }
    }
    jpeg_finish_decompress(&cinfo);
    *allocated = pixels;
  }
  *width_out = cinfo.output_width;
  *height_out = cinfo.output_height;
  jpeg_destroy_decompress(&cinfo);
  return 0;
}

int encode_one(const unsigned char *rgb, uint32_t width, uint32_t height, int quality, unsigned char **out_buffer, size_t *out_size,
               char *error, size_t error_size) {
  struct jpeg_compress_struct cinfo;
  codec_error err;
  unsigned char *volatile out = NULL;
  unsigned long out_length = 0;
  memset(&cinfo, 0, sizeof cinfo);
  cinfo.err = init_errors(&err);
  if (setjmp(err.escape)) {
    snprintf(error, error_size, "%s", err.message[0] ? err.message : "JPEG encode failed");
    jpeg_destroy_compress(&cinfo);
    free(out);
    return -1;
  }
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, (unsigned char **)&out, &out_length);
  cinfo.image_width = width;
  cinfo.image_height = height;
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  cinfo.dct_method = JDCT_ISLOW;
  jpeg_start_compress(&cinfo, TRUE);
  size_t stride = (size_t)width * 3;
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = (JSAMPROW)(rgb + stride * cinfo.next_scanline);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  *out_buffer = out;
  *out_size = out_length;
  return 0;
}
