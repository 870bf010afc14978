#include <zlib.h>

/* inflateInit2 is a macro; this accessor makes it callable from Swift.
   windowBits 15 + 32 accepts both zlib and gzip headers. */
static inline int mbc_inflate_init(z_streamp stream, int windowBits) {
    return inflateInit2(stream, windowBits);
}
