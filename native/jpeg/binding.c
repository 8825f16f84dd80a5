/*
 * pathbox's JPEG codec: libjpeg-turbo (Debian's libjpeg62-turbo, codec.c) called directly through Node-API.
 *
 * Why not sharp for tiles: a whole-slide region is dozens of small JPEG tiles, and sharp's per-call
 * pipeline setup costs as much as decoding a 256x256 tile. This codec does the work on libuv's thread
 * pool, decodes at 1/2, 1/4 or 1/8 scale in the DCT domain (how the analysis reads 0.25 MPP slides for
 * 0.5 MPP models, and how Deep Zoom builds its in-between levels), decodes several tiles of a region in
 * one call straight into the region's pixels, and encodes.
 *
 * decode(jpeg, scale, maxPixels[, target]) -> Promise<{ width, height, data }>
 *   the whole image as RGB, into `target` when given (a buffer V8 allocated costs its garbage collector
 *   far less than one made here)
 * decodeParts(jpegs[], params Int32Array, maxPixels, target, targetWidth) -> Promise<void>
 *   for each jpegs[i], params[7i..7i+6] = scale, x, y, width, height (a part of the scaled image), atX,
 *   atY (where it goes in target): columns outside a part skip the IDCT and rows below it are never
 *   decoded. A failure rejects with the failing part's index as `part`.
 * encode(rgb, width, height, quality) -> Promise<Buffer>   baseline JPEG, 4:2:0
 */
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "codec.h"

#define PART_FIELDS 7
/* libjpeg's longest message (JMSG_LENGTH_MAX, 200) with room for our own wording around it. */
#define ERROR_SIZE 300

typedef struct {
  const unsigned char *input;
  size_t input_length;
  int scale;
  part_spec part;
} part_job;

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref input_ref;
  napi_ref target_ref;
  enum { DECODE, DECODE_PARTS, ENCODE } kind;
  double max_pixels;
  /* decode and encode: one input */
  const unsigned char *input;
  size_t input_length;
  int scale;
  int quality;
  /* decodeParts */
  part_job *parts;
  uint32_t part_count;
  int32_t failed_part;
  /* the caller's buffer rows are written to (NULL: allocate), its row length in pixels */
  unsigned char *target;
  size_t target_length;
  uint32_t target_width;
  /* results */
  unsigned char *output;
  size_t output_length;
  uint32_t width, height;
  char error[ERROR_SIZE];
} job;

static void execute(napi_env env, void *data) {
  (void)env;
  job *j = (job *)data;
  switch (j->kind) {
    case DECODE:
      if (decode_one(j->input, j->input_length, j->scale, j->max_pixels, NULL, j->target, j->target_length, 0,
                     &j->output, &j->width, &j->height, j->error, sizeof j->error) == 0 && j->output) {
        j->output_length = (size_t)j->width * j->height * 3;
      }
      break;
    case DECODE_PARTS:
      for (uint32_t i = 0; i < j->part_count; i++) {
        part_job *p = &j->parts[i];
        unsigned char *unused = NULL;
        uint32_t w, h;
        if (decode_one(p->input, p->input_length, p->scale, j->max_pixels, &p->part, j->target, j->target_length,
                       j->target_width, &unused, &w, &h, j->error, sizeof j->error) != 0) {
          j->failed_part = (int32_t)i;
          return;
        }
      }
      break;
    case ENCODE:
      encode_one(j->input, j->width, j->height, j->quality, &j->output, &j->output_length, j->error, sizeof j->error);
      break;
  }
}

static void free_pixels(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

static void complete(napi_env env, napi_status status, void *data) {
  job *j = (job *)data;
  napi_value result = NULL;
  if (status != napi_ok && !j->error[0]) snprintf(j->error, sizeof j->error, "JPEG job was cancelled");
  if (j->error[0]) {
    napi_value message, code, error;
    int too_large = strncmp(j->error, TOO_LARGE_PREFIX, strlen(TOO_LARGE_PREFIX)) == 0;
    const char *text = too_large ? j->error + strlen(TOO_LARGE_PREFIX) : j->error;
    napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &message);
    napi_create_string_utf8(env, too_large ? "TOO_LARGE" : "CORRUPT", NAPI_AUTO_LENGTH, &code);
    napi_create_error(env, code, message, &error);
    if (j->kind == DECODE_PARTS) {
      napi_value index;
      napi_create_int32(env, j->failed_part, &index);
      napi_set_named_property(env, error, "part", index);
    }
    napi_reject_deferred(env, j->deferred, error);
  } else if (j->kind == DECODE_PARTS) {
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
    if (j->kind == DECODE) {
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
  if (j->input_ref) napi_delete_reference(env, j->input_ref);
  if (j->target_ref) napi_delete_reference(env, j->target_ref);
  napi_delete_async_work(env, j->work);
  free(j->parts);
  free(j);
}

static napi_value usage_error(napi_env env, job *j, const char *usage) {
  if (j) {
    if (j->input_ref) napi_delete_reference(env, j->input_ref);
    if (j->target_ref) napi_delete_reference(env, j->target_ref);
    free(j->parts);
    free(j);
  }
  napi_throw_type_error(env, NULL, usage);
  return NULL;
}

/* The bytes of a Buffer argument. */
static int buffer_bytes(napi_env env, napi_value value, unsigned char **bytes, size_t *length) {
  bool is_buffer = false;
  if (napi_is_buffer(env, value, &is_buffer) != napi_ok || !is_buffer) return 0;
  return napi_get_buffer_info(env, value, (void **)bytes, length) == napi_ok;
}

/* Keeps a JS value (and so the bytes it holds, which V8 never moves) alive until the job has run. */
static int keep(napi_env env, napi_value value, napi_ref *ref) { return napi_create_reference(env, value, 1, ref) == napi_ok; }

static napi_value queue(napi_env env, job *j, const char *name) {
  napi_value promise, resource_name;
  napi_create_promise(env, &j->deferred, &promise);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name);
  napi_create_async_work(env, NULL, resource_name, execute, complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return promise;
}

static int valid_scale(int32_t scale) { return scale == 1 || scale == 2 || scale == 4 || scale == 8; }

/* The call's arguments (up to *argc of them) and a fresh job of that kind, or NULL when out of memory. */
static job *start_job(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv, int kind) {
  napi_get_cb_info(env, info, argc, argv, NULL, NULL);
  job *j = calloc(1, sizeof(job));
  if (j) j->kind = kind;
  return j;
}

static napi_value decode(napi_env env, napi_callback_info info) {
  const char *usage = "decode(jpeg Buffer, scale 1|2|4|8, maxPixels[, target Buffer])";
  size_t argc = 4;
  napi_value argv[4];
  job *j = start_job(env, info, &argc, argv, DECODE);
  if (!j) return usage_error(env, NULL, "out of memory");
  unsigned char *input;
  int32_t scale;
  if (argc < 3 || !buffer_bytes(env, argv[0], &input, &j->input_length) || napi_get_value_int32(env, argv[1], &scale) != napi_ok ||
      !valid_scale(scale) || napi_get_value_double(env, argv[2], &j->max_pixels) != napi_ok || !keep(env, argv[0], &j->input_ref)) {
    return usage_error(env, j, usage);
  }
  j->input = input;
  j->scale = scale;
  napi_valuetype target_type = napi_undefined;
  if (argc == 4) napi_typeof(env, argv[3], &target_type);
  if (target_type != napi_undefined) {
    if (!buffer_bytes(env, argv[3], &j->target, &j->target_length) || !keep(env, argv[3], &j->target_ref)) return usage_error(env, j, usage);
  }
  return queue(env, j, "pathbox.jpeg.decode");
}

static napi_value decode_parts(napi_env env, napi_callback_info info) {
  const char *usage = "decodeParts(jpegs Buffer[], params Int32Array of 7 per JPEG, maxPixels, target Buffer, targetWidth)";
  size_t argc = 5;
  napi_value argv[5];
  job *j = start_job(env, info, &argc, argv, DECODE_PARTS);
  if (!j) return usage_error(env, NULL, "out of memory");
  bool is_array = false, is_typed = false;
  napi_typedarray_type type;
  size_t param_count = 0;
  void *param_data = NULL;
  if (argc != 5 || napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, argv[0], &j->part_count) != napi_ok || j->part_count == 0 ||
      napi_is_typedarray(env, argv[1], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, argv[1], &type, &param_count, &param_data, NULL, NULL) != napi_ok || type != napi_int32_array ||
      param_count != (size_t)j->part_count * PART_FIELDS || napi_get_value_double(env, argv[2], &j->max_pixels) != napi_ok ||
      !buffer_bytes(env, argv[3], &j->target, &j->target_length) || napi_get_value_uint32(env, argv[4], &j->target_width) != napi_ok ||
      !keep(env, argv[0], &j->input_ref) || !keep(env, argv[3], &j->target_ref)) {
    return usage_error(env, j, usage);
  }
  j->parts = calloc(j->part_count, sizeof(part_job));
  if (!j->parts) return usage_error(env, j, "out of memory");
  const int32_t *params = param_data;
  for (uint32_t i = 0; i < j->part_count; i++) {
    napi_value item;
    unsigned char *bytes;
    const int32_t *p = params + (size_t)i * PART_FIELDS;
    if (napi_get_element(env, argv[0], i, &item) != napi_ok || !buffer_bytes(env, item, &bytes, &j->parts[i].input_length) ||
        !valid_scale(p[0]) || p[1] < 0 || p[2] < 0 || p[3] <= 0 || p[4] <= 0 || p[5] < 0 || p[6] < 0) {
      return usage_error(env, j, usage);
    }
    j->parts[i].input = bytes;
    j->parts[i].scale = p[0];
    j->parts[i].part = (part_spec){(uint32_t)p[1], (uint32_t)p[2], (uint32_t)p[3], (uint32_t)p[4], (uint32_t)p[5], (uint32_t)p[6]};
  }
  return queue(env, j, "pathbox.jpeg.decodeParts");
}

static napi_value encode(napi_env env, napi_callback_info info) {
  const char *usage = "encode(rgb Buffer of width*height*3 bytes, width, height, quality 1-100)";
  size_t argc = 4;
  napi_value argv[4];
  int32_t quality;
  unsigned char *input;
  job *j = start_job(env, info, &argc, argv, ENCODE);
  if (!j) return usage_error(env, NULL, "out of memory");
  if (argc != 4 || napi_get_value_uint32(env, argv[1], &j->width) != napi_ok || napi_get_value_uint32(env, argv[2], &j->height) != napi_ok ||
      napi_get_value_int32(env, argv[3], &quality) != napi_ok || j->width == 0 || j->height == 0 || j->width > 65500 ||
      j->height > 65500 || quality < 1 || quality > 100 || !buffer_bytes(env, argv[0], &input, &j->input_length) ||
      j->input_length < (size_t)j->width * j->height * 3 || !keep(env, argv[0], &j->input_ref)) {
    return usage_error(env, j, usage);
  }
  j->input = input;
  j->quality = quality;
  return queue(env, j, "pathbox.jpeg.encode");
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "decode", NAPI_AUTO_LENGTH, decode, NULL, &fn);
  napi_set_named_property(env, exports, "decode", fn);
  napi_create_function(env, "decodeParts", NAPI_AUTO_LENGTH, decode_parts, NULL, &fn);
  napi_set_named_property(env, exports, "decodeParts", fn);
  napi_create_function(env, "encode", NAPI_AUTO_LENGTH, encode, NULL, &fn);
  napi_set_named_property(env, exports, "encode", fn);
  return exports;
}
