#include <stdio.h>
#include <setjmp.h>
#include <string.h>
#include <jpeglib.h>

/* libjpeg reports errors by calling error_exit, which must not return; Swift cannot catch a
   longjmp, so the decode loop lives here. mbc_jpeg_decode_rgb decodes `size` bytes of JPEG
   into interleaved RGB (grayscale is expanded to 3 equal channels by libjpeg-turbo) at `out`,
   which holds `capacity` bytes. Returns 0 on success and sets *width, *height; otherwise
   returns -1 and writes libjpeg's message (or a size complaint) into `message`. Corrupt or
   truncated data, which libjpeg would only warn about, is an error. */

struct mbc_jpeg_error {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char *message;
    size_t message_size;
};

static void mbc_jpeg_error_exit(j_common_ptr info) {
    struct mbc_jpeg_error *err = (struct mbc_jpeg_error *)info->err;
    char text[JMSG_LENGTH_MAX];
    (*info->err->format_message)(info, text);
    snprintf(err->message, err->message_size, "%s", text);
    longjmp(err->jump, 1);
}

/* A warning (level -1: corrupt or truncated data) is treated as an error: no silent garbage. */
static void mbc_jpeg_emit_message(j_common_ptr info, int level) {
    if (level < 0) mbc_jpeg_error_exit(info);
}

static inline int mbc_jpeg_decode_rgb(const unsigned char *data, unsigned long size,
                                      unsigned char *out, size_t capacity,
                                      int *width, int *height,
                                      char *message, size_t message_size) {
    struct jpeg_decompress_struct info;
    struct mbc_jpeg_error err;
    info.err = jpeg_std_error(&err.base);
    err.base.error_exit = mbc_jpeg_error_exit;
    err.base.emit_message = mbc_jpeg_emit_message;
    err.message = message;
    err.message_size = message_size;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&info);
        return -1;
    }
    jpeg_create_decompress(&info);
    jpeg_mem_src(&info, data, size);
    jpeg_read_header(&info, TRUE);
    /* Refuse an oversized image before libjpeg allocates for it. */
    if ((size_t)info.image_width * info.image_height * 3 > capacity) {
        snprintf(message, message_size, "image is %ux%u, larger than the %zu bytes allowed",
                 info.image_width, info.image_height, capacity);
        jpeg_destroy_decompress(&info);
        return -1;
    }
    info.out_color_space = JCS_RGB;
    jpeg_start_decompress(&info);
    size_t row = (size_t)info.output_width * 3;
    if (info.output_components != 3 || row * info.output_height > capacity) {
        snprintf(message, message_size, "image is %ux%u, larger than the %zu bytes allowed",
                 info.output_width, info.output_height, capacity);
        jpeg_destroy_decompress(&info);
        return -1;
    }
    while (info.output_scanline < info.output_height) {
        JSAMPROW line = out + row * info.output_scanline;
        jpeg_read_scanlines(&info, &line, 1);
    }
    *width = (int)info.output_width;
    *height = (int)info.output_height;
    jpeg_finish_decompress(&info);
    jpeg_destroy_decompress(&info);
    return 0;
}
