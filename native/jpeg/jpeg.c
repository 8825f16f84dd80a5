/*
 * pathbox's JPEG codec: libjpeg-turbo (Debian's libjpeg62-turbo) called directly through Node-API.
 *
 * Why not sharp for tiles: a whole-slide region is dozens of small JPEG tiles, and sharp's per-call
 * pipeline setup costs as much as decoding a 256x256 tile. This codec does one libjpeg decode per call on
 * libuv's thread pool, can decode at 1/2, 1/4 or 1/8 scale in the DCT domain (how the analysis reads
 * 0.25 MPP slides for 0.5 MPP models, and how Deep Zoom builds its in-between levels), and encodes.
 *
 * decode(buffer, scaleDenom, maxPixels[, target]) -> Promise<{ width, height, data }>   RGB, 3 bytes per pixel,
 *   into `target` when given (a buffer V8 allocated costs the garbage collector far less than one made here)
 * decodePart(buffer, scaleDenom, maxPixels, target, targetWidth, [partX, partY, partW, partH, atX, atY])
 *   -> Promise<void>: only the part of the (scaled) image a region needs, written into the region's pixels at
 *   (atX, atY); columns outside it skip the IDCT and rows below it are never decoded.
 * encode(rgb, width, height, quality)    -> Promise<Buffer>                    baseline JPEG, 4:2:0
 */
#include <node_api.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>

/* A progressive stream may declare any number of scans; each costs a pass over the whole image. */
#define MAX_SCANS 500

typedef struct {
  struct jpeg_error_mgr base;
  jmp_buf escape;
  char message[JMSG_LENGTH_MAX];
} codec_error;

static void fail_with_message(j_common_ptr cinfo) {
  codec_error *err = (codec_error *)cinfo->err;
  (*cinfo->err->format_message)(cinfo, err->message);
  longjmp(err->escape, 1);
}

/* Warnings (corrupt data that libjpeg papers over) stay quiet, as libvips' fail-on-error level does. */
static void ignore_message(j_common_ptr cinfo) { (void)cinfo; }

static void limit_scans(j_common_ptr cinfo) {
  if (!cinfo->is_decompressor) return;
  j_decompress_ptr d = (j_decompress_ptr)cinfo;
  if (d->input_scan_number > MAX_SCANS) {
    codec_error *err = (codec_error *)cinfo->err;
    snprintf(err->message, sizeof err->message, "more than %d progressive scans", MAX_SCANS);
    longjmp(err->escape, 1);
  }
}

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref input_ref;
  /* decode */
  const unsigned char *input;
  size_t input_length;
  int scale_denom;
  double max_pixels;
  /* encode */
  int quality;
  /* decode into a caller's buffer (NULL: allocate) */
  unsigned char *target;
  size_t target_length;
  napi_ref target_ref;
  /* decodePart: target row length in pixels, the part of the scaled image, where it goes */
  int is_part;
  uint32_t target_width, part_x, part_y, part_w, part_h, at_x, at_y;
  /* results */
  unsigned char *output;
  size_t output_length;
  unsigned int width, height;
  char error[JMSG_LENGTH_MAX + 64];
} job;

static void decode_part(job *j, j_decompress_ptr cinfo, codec_error *err) {
  if ((uint64_t)j->part_x + j->part_w > cinfo->output_width || (uint64_t)j->part_y + j->part_h > cinfo->output_height) {
    snprintf(err->message, sizeof err->message, "part %u,%u %ux%u is outside the decoded %ux%u", j->part_x, j->part_y,
             j->part_w, j->part_h, cinfo->output_width, cinfo->output_height);
    longjmp(err->escape, 1);
  }
  size_t target_stride = (size_t)j->target_width * 3;
  if ((uint64_t)j->at_x + j->part_w > j->target_width ||
      ((uint64_t)j->at_y + j->part_h) * target_stride > j->target_length) {
    snprintf(err->message, sizeof err->message, "part %ux%u does not fit the target at %u,%u", j->part_w, j->part_h, j->at_x, j->at_y);
    longjmp(err->escape, 1);
  }
  /* Cropping rounds the columns out to whole iMCUs; the row buffer holds that wider span. */
  JDIMENSION x_offset = j->part_x, width = j->part_w;
  if (width < cinfo->output_width) jpeg_crop_scanline(cinfo, &x_offset, &width);
  unsigned char *row = malloc((size_t)width * 3);
  if (!row) {
    snprintf(err->message, sizeof err->message, "out of memory for a %u-pixel row", width);
    longjmp(err->escape, 1);
  }
  /* Freed on the error path by the caller's setjmp handler through this pointer. */
  j->output = row;
  if (j->part_y > 0) jpeg_skip_scanlines(cinfo, j->part_y);
  size_t skip_bytes = (size_t)(j->part_x - x_offset) * 3;
  size_t part_bytes = (size_t)j->part_w * 3;
  for (uint32_t y = 0; y < j->part_h; y++) {
    JSAMPROW rows[1] = {row};
    if (jpeg_read_scanlines(cinfo, rows, 1) != 1) {
      snprintf(err->message, sizeof err->message, "decoder stopped at row %u of the part", y);
      longjmp(err->escape, 1);
    }
    memcpy(j->target + ((size_t)(j->at_y + y) * j->target_width + j->at_x) * 3, row + skip_bytes, part_bytes);
  }
  /* The rows below the part are never decoded. */
  jpeg_abort_decompress(cinfo);
  free(row);
  j->output = NULL;
}

static void decode_execute(napi_env env, void *data) {
  (void)env;
  job *j = (job *)data;
  struct jpeg_decompress_struct cinfo;
  struct jpeg_progress_mgr progress;
  codec_error err;
  memset(&cinfo, 0, sizeof cinfo);
  cinfo.err = jpeg_std_error(&err.base);
  err.base.error_exit = fail_with_message;
  err.base.output_message = ignore_message;
  err.message[0] = 0;
  unsigned char *volatile pixels = NULL;
  if (setjmp(err.escape)) {
    snprintf(j->error, sizeof j->error, "%s", err.message[0] ? err.message : "JPEG decode failed");
    jpeg_destroy_decompress(&cinfo);
    free(pixels);
    free(j->output);
    j->output = NULL;
    return;
  }
  jpeg_create_decompress(&cinfo);
  progress.progress_monitor = limit_scans;
  cinfo.progress = &progress;
  jpeg_mem_src(&cinfo, j->input, (unsigned long)j->input_length);
  jpeg_read_header(&cinfo, TRUE);
  /* Bound the frame before anything is allocated: libjpeg fills whatever the data lacks, so a forged
     header of a few bytes could otherwise cost gigabytes. */
  if ((double)cinfo.image_width * (double)cinfo.image_height > j->max_pixels) {
    snprintf(j->error, sizeof j->error, "TOO_LARGE:JPEG frame %ux%u exceeds the %.0f pixels allowed here",
             cinfo.image_width, cinfo.image_height, j->max_pixels);
    jpeg_destroy_decompress(&cinfo);
    return;
  }
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    snprintf(j->error, sizeof j->error, "CMYK JPEG is not a slide tile");
    jpeg_destroy_decompress(&cinfo);
    return;
  }
  cinfo.out_color_space = JCS_RGB;
  cinfo.scale_num = 1;
  cinfo.scale_denom = (unsigned int)j->scale_denom;
  cinfo.dct_method = JDCT_ISLOW;
  jpeg_start_decompress(&cinfo);
  if (j->is_part) {
    decode_part(j, &cinfo, &err);
    jpeg_destroy_decompress(&cinfo);
    return;
  }
  size_t stride = (size_t)cinfo.output_width * 3;
  if (j->target) {
    if (j->target_length < stride * cinfo.output_height) {
      snprintf(err.message, sizeof err.message, "decoded %ux%u does not fit the %zu bytes given", cinfo.output_width,
               cinfo.output_height, j->target_length);
      longjmp(err.escape, 1);
    }
  } else {
    pixels = malloc(stride * cinfo.output_height);
  }
  unsigned char *rows = j->target ? j->target : pixels;
  if (!rows) {
    snprintf(err.message, sizeof err.message, "out of memory for %ux%u pixels", cinfo.output_width, cinfo.output_height);
    longjmp(err.escape, 1);
  }
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = rows + stride * cinfo.output_scanline;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  j->width = cinfo.output_width;
  j->height = cinfo.output_height;
  j->output = pixels;
  j->output_length = stride * cinfo.output_height;
  jpeg_destroy_decompress(&cinfo);
}

static void encode_execute(napi_env env, void *data) {
  (void)env;
  job *j = (job *)data;
  struct jpeg_compress_struct cinfo;
  codec_error err;
  unsigned char *volatile out = NULL;
  unsigned long out_length = 0;
  memset(&cinfo, 0, sizeof cinfo);
  cinfo.err = jpeg_std_error(&err.base);
  err.base.error_exit = fail_with_message;
  err.base.output_message = ignore_message;
  err.message[0] = 0;
  if (setjmp(err.escape)) {
    snprintf(j->error, sizeof j->error, "%s", err.message[0] ? err.message : "JPEG encode failed");
    jpeg_destroy_compress(&cinfo);
    free(out);
    return;
  }
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, (unsigned char **)&out, &out_length);
  cinfo.image_width = j->width;
  cinfo.image_height = j->height;
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, j->quality, TRUE);
  cinfo.dct_method = JDCT_ISLOW;
  jpeg_start_compress(&cinfo, TRUE);
  size_t stride = (size_t)j->width * 3;
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = (JSAMPROW)(j->input + stride * cinfo.next_scanline);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  j->output = out;
  j->output_length = out_length;
}

static void free_pixels(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

static void settle(napi_env env, napi_status status, void *data, int is_decode) {
  /* is_decode: 1 decode, 0 encode; a part decode resolves to undefined. */
  job *j = (job *)data;
  napi_value result = NULL;
  if (status != napi_ok && !j->error[0]) snprintf(j->error, sizeof j->error, "JPEG job was cancelled");
  if (j->error[0]) {
    napi_value message, code, error;
    const char *text = j->error;
    const char *code_name = "CORRUPT";
    if (strncmp(text, "TOO_LARGE:", 10) == 0) {
      code_name = "TOO_LARGE";
      text += 10;
    }
    napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &message);
    napi_create_string_utf8(env, code_name, NAPI_AUTO_LENGTH, &code);
    napi_create_error(env, code, message, &error);
    napi_reject_deferred(env, j->deferred, error);
  } else if (j->is_part) {
    napi_get_undefined(env, &result);
    napi_resolve_deferred(env, j->deferred, result);
  } else {
    napi_value buffer;
    if (j->target) {
      napi_get_reference_value(env, j->target_ref, &buffer);
    } else if (napi_create_external_buffer(env, j->output_length, j->output, free_pixels, NULL, &buffer) != napi_ok) {
      /* Runtimes that forbid external buffers get a copy. */
      void *copy;
      napi_create_buffer_copy(env, j->output_length, j->output, &copy, &buffer);
      free(j->output);
    }
    if (is_decode) {
      napi_value width, height;
      napi_create_object(env, &result);
      napi_create_uint32(env, j->width, &width);
      napi_create_uint32(env, j->height, &height);
      napi_set_named_property(env, result, "width", width);
      napi_set_named_property(env, result, "height", height);
      napi_set_named_property(env, result, "data", buffer);
    } else {
      result = buffer;
    }
    napi_resolve_deferred(env, j->deferred, result);
  }
  napi_delete_reference(env, j->input_ref);
  if (j->target_ref) napi_delete_reference(env, j->target_ref);
  napi_delete_async_work(env, j->work);
  free(j);
}

static void decode_complete(napi_env env, napi_status status, void *data) { settle(env, status, data, 1); }
static void encode_complete(napi_env env, napi_status status, void *data) { settle(env, status, data, 0); }

static napi_value throw_type_error(napi_env env, const char *message) {
  napi_throw_type_error(env, NULL, message);
  return NULL;
}

/* Keeps the input buffer alive (and its bytes in place) until the job has run. */
static int take_buffer(napi_env env, napi_value value, job *j) {
  bool is_buffer = false;
  void *bytes;
  size_t length;
  if (napi_is_buffer(env, value, &is_buffer) != napi_ok || !is_buffer) return 0;
  if (napi_get_buffer_info(env, value, &bytes, &length) != napi_ok) return 0;
  j->input = bytes;
  j->input_length = length;
  return napi_create_reference(env, value, 1, &j->input_ref) == napi_ok;
}

static napi_value queue(napi_env env, job *j, const char *name, napi_async_execute_callback execute,
                        napi_async_complete_callback complete) {
  napi_value promise, resource_name;
  napi_create_promise(env, &j->deferred, &promise);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name);
  napi_create_async_work(env, NULL, resource_name, execute, complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return promise;
}

static napi_value decode(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3) return throw_type_error(env, "decode(buffer, scaleDenom, maxPixels[, target])");
  job *j = calloc(1, sizeof(job));
  int32_t scale;
  if (!j) return throw_type_error(env, "out of memory");
  if (napi_get_value_int32(env, argv[1], &scale) != napi_ok || (scale != 1 && scale != 2 && scale != 4 && scale != 8) ||
      napi_get_value_double(env, argv[2], &j->max_pixels) != napi_ok || !take_buffer(env, argv[0], j)) {
    free(j);
    return throw_type_error(env, "decode(buffer, scaleDenom 1|2|4|8, maxPixels)");
  }
  j->scale_denom = scale;
  napi_valuetype target_type = napi_undefined;
  if (argc == 4) napi_typeof(env, argv[3], &target_type);
  if (target_type != napi_undefined) {
    bool is_buffer = false;
    void *bytes;
    if (napi_is_buffer(env, argv[3], &is_buffer) != napi_ok || !is_buffer ||
        napi_get_buffer_info(env, argv[3], &bytes, &j->target_length) != napi_ok ||
        napi_create_reference(env, argv[3], 1, &j->target_ref) != napi_ok) {
      napi_delete_reference(env, j->input_ref);
      free(j);
      return throw_type_error(env, "decode: target must be a Buffer");
    }
    j->target = bytes;
  }
  return queue(env, j, "pathbox.jpeg.decode", decode_execute, decode_complete);
}

static napi_value decode_part_call(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  const char *usage = "decodePart(buffer, scaleDenom 1|2|4|8, maxPixels, target, targetWidth, [partX, partY, partW, partH, atX, atY])";
  job *j = calloc(1, sizeof(job));
  if (!j) return throw_type_error(env, "out of memory");
  int32_t scale = 0;
  bool ok = argc == 6 && napi_get_value_int32(env, argv[1], &scale) == napi_ok && (scale == 1 || scale == 2 || scale == 4 || scale == 8) &&
            napi_get_value_double(env, argv[2], &j->max_pixels) == napi_ok && napi_get_value_uint32(env, argv[4], &j->target_width) == napi_ok;
  uint32_t *fields[6] = {&j->part_x, &j->part_y, &j->part_w, &j->part_h, &j->at_x, &j->at_y};
  for (uint32_t i = 0; ok && i < 6; i++) {
    napi_value item;
    ok = napi_get_element(env, argv[5], i, &item) == napi_ok && napi_get_value_uint32(env, item, fields[i]) == napi_ok;
  }
  bool is_buffer = false;
  void *bytes = NULL;
  ok = ok && j->part_w > 0 && j->part_h > 0 && napi_is_buffer(env, argv[3], &is_buffer) == napi_ok && is_buffer &&
       napi_get_buffer_info(env, argv[3], &bytes, &j->target_length) == napi_ok && take_buffer(env, argv[0], j);
  if (!ok || napi_create_reference(env, argv[3], 1, &j->target_ref) != napi_ok) {
    if (j->input_ref) napi_delete_reference(env, j->input_ref);
    free(j);
    return throw_type_error(env, usage);
  }
  j->target = bytes;
  j->scale_denom = scale;
  j->is_part = 1;
  return queue(env, j, "pathbox.jpeg.decodePart", decode_execute, decode_complete);
}

static napi_value encode(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  uint32_t width, height;
  int32_t quality;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  job *j = calloc(1, sizeof(job));
  if (!j) return throw_type_error(env, "out of memory");
  if (argc != 4 || napi_get_value_uint32(env, argv[1], &width) != napi_ok ||
      napi_get_value_uint32(env, argv[2], &height) != napi_ok || napi_get_value_int32(env, argv[3], &quality) != napi_ok ||
      width == 0 || height == 0 || width > 65500 || height > 65500 || quality < 1 || quality > 100 ||
      !take_buffer(env, argv[0], j) || j->input_length < (size_t)width * height * 3) {
    if (j->input_ref) napi_delete_reference(env, j->input_ref);
    free(j);
    return throw_type_error(env, "encode(rgb buffer of width*height*3 bytes, width, height, quality 1-100)");
  }
  j->width = width;
  j->height = height;
  j->quality = quality;
  return queue(env, j, "pathbox.jpeg.encode", encode_execute, encode_complete);
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "decode", NAPI_AUTO_LENGTH, decode, NULL, &fn);
  napi_set_named_property(env, exports, "decode", fn);
  napi_create_function(env, "decodePart", NAPI_AUTO_LENGTH, decode_part_call, NULL, &fn);
  napi_set_named_property(env, exports, "decodePart", fn);
  napi_create_function(env, "encode", NAPI_AUTO_LENGTH, encode, NULL, &fn);
  napi_set_named_property(env, exports, "encode", fn);
  return exports;
}
