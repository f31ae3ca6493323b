/* Decoder of QEMU migration streams (what a source QEMU sends to a
 * destination): header, configuration, every section with its header and
 * footer, the RAM section's blocks and page counts, commands, EOF, and the JSON
 * VM description QEMU appends, which gives each device's fields, sizes and
 * order, so device state decodes into named field values. docs/stream.md
 * describes the format as decoded here.
 *
 * Streams are untrusted input: every read is bounded by the buffer, every
 * length is checked before use, recursion into the VM description is limited,
 * and the output is capped, so no input crashes, hangs or exhausts memory.
 * Errors read "offset N: expected X, found Y". */
#ifndef ML_STREAM_H
#define ML_STREAM_H

#include <jansson.h>
#include <stdio.h>
#include <stddef.h>

#define ML_STREAM_SCHEMA "miglab-stream/1"
/* Largest stream ml_stream_decode_file accepts: the file, and the stream it
 * decompresses to (a zstd capture expanding past it is refused before it is
 * held in memory). */
#define ML_STREAM_FILE_MAX ((size_t)4 << 30)
/* A zstd capture may expand to ML_STREAM_ZSTD_FLOOR bytes whatever its
 * size, and past that to at most ML_STREAM_ZSTD_RATIO times its compressed
 * size. A migration stream is mostly RAM pages the guest dirtied (zero pages
 * travel as flags): the 385 captures of this lab's runs expand at most 1.5
 * times. A file past the ratio is a zstd bomb, refused having held only the
 * scratch buffer, so a small file cannot make miglab hold more than the floor. */
#define ML_STREAM_ZSTD_FLOOR ((size_t)256 << 20)
#define ML_STREAM_ZSTD_RATIO 64
/* Field entries kept per stream; past it `fields_truncated` is set. */
#define ML_STREAM_MAX_FIELDS 100000
/* Bytes of a field value shown as hex; longer values are cut (`truncated`). */
#define ML_STREAM_HEX_MAX 256

enum {
	/* Decode device state into per-device field values (`devices[].fields`). */
	ML_STREAM_FIELDS = 1 << 0,
};

/* Decode a stream held in memory into a summary (schema in docs/stream.md):
 *   { schema, size, version, machine, configuration, footers, complete,
 *     sections[], ram{}, devices[], vmdesc{}, error? }
 * Returns 0 when the whole stream decoded (it ends with QEMU_VM_EOF, and the
 * VM description if any). Returns -1 with an error reported when it is
 * malformed or cut short; *summary then still holds what decoded before the
 * error (with `error` set to the same message and `complete` false), so a
 * truncated capture of a failed migration still tells what was sent. */
int ml_stream_decode(const void *data, size_t len, unsigned flags, json_t **summary);

/* Decode a file: a raw stream, or one compressed with zstd (as the stream tap
 * writes it, detected by its magic). Always decodes fields. Same contract as
 * ml_stream_decode; *summary is NULL only when the file could not be read. */
int ml_stream_decode_file(const char *path, json_t **summary);
/* The same with another limit than ML_STREAM_FILE_MAX on the file and on the
 * stream it decompresses to: past it, the error "FILE decompresses to more
 * than N bytes: refused" (or the file is too large to read), *summary NULL.
 * A zstd file is also held to ML_STREAM_ZSTD_RATIO (above the floor).
 * Decompressing holds at most about 128 KiB beyond the stream itself. */
int ml_stream_decode_file_max(const char *path, size_t max, json_t **summary);

/* One sentence saying what the stream says about device (an idstr such as
 * "0000:00:01.0/virtio-net", its last component "virtio-net", or a vmsd name)
 * and, if field is not NULL, about that field (a path such as "dev.config",
 * or its last component): "device '...' (vmsd virtio-net version 11, instance
 * 0, 46151 bytes at offset 12345), field 'status': the source sent 3 (uint8)".
 * When the device or field is not in the stream, the sentence says so and
 * names what was there. Never NULL; caller frees. */
char *ml_stream_explain(const json_t *summary, const char *device, const char *field);

/* Print a readable summary: the header, sections in order with offsets and
 * sizes, RAM blocks, the VM description; with_fields adds each device's
 * fields and values. */
void ml_stream_print(FILE *f, const json_t *summary, int with_fields);

#endif
