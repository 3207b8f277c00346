#ifndef LIBFS_CRC32_H
#define LIBFS_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32 (ISO-HDLC, zlib's crc32(): reflected 0xEDB88320, init and final
   XOR 0xFFFFFFFF) of size bytes after crc, the CRC of what came before
   (0 to start). Same results as zlib's crc32_z(), computed with carry-less
   multiplication (PCLMULQDQ) where the CPU has it: S3's x-amz-checksum-crc32
   is computed over every byte uploaded and downloaded. */
uint32_t fs_crc32(uint32_t crc, const void *data, size_t size);

#endif
