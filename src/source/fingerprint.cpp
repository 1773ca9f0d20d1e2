#include "source/fingerprint.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#define XXH_INLINE_ALL
#include <arrow/vendored/xxhash.h>

namespace clickstream::source {

namespace {

constexpr size_t kChunkBytes = 1 << 20;

// XXH3's 128-bit streaming state: several GB/s, so hashing costs a fraction of reading the CSV,
// and 128 bits keep a collision between two inputs out of reach.
class ContentHasher {
 public:
  ContentHasher() : state_(XXH3_createState()) { XXH3_128bits_reset(state_); }
  ~ContentHasher() { XXH3_freeState(state_); }
  ContentHasher(const ContentHasher&) = delete;
  ContentHasher& operator=(const ContentHasher&) = delete;

  void Add(const char* data, size_t size) { XXH3_128bits_update(state_, data, size); }

  std::string Hex() const {
    XXH128_canonical_t canonical;
    XXH128_canonicalFromHash(&canonical, XXH3_128bits_digest(state_));
    static constexpr char kHex[] = "0123456789abcdef";
    std::string text(kFingerprintChars, '\0');
    for (size_t i = 0; i < sizeof(canonical.digest); ++i) {
      text[2 * i] = kHex[canonical.digest[i] >> 4];
      text[2 * i + 1] = kHex[canonical.digest[i] & 0xF];
    }
    return text;
  }

 private:
  XXH3_state_t* state_;
};

// Reads everything left in fd, handing each chunk to consume. False (errno set) when reading fails.
template <typename Consume>
bool ReadAll(int fd, std::vector<char>* chunk, Consume consume) {
  while (true) {
    const ssize_t count = ::read(fd, chunk->data(), chunk->size());
    if (count == 0) return true;
    if (count < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (!consume(chunk->data(), static_cast<size_t>(count))) return false;
  }
}

}  // namespace

arrow::Result<std::string> FingerprintFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return arrow::Status::IOError("cannot open input ", path, ": ", std::strerror(errno));
  ContentHasher hasher;
  std::vector<char> chunk(kChunkBytes);
  const bool read = ReadAll(fd, &chunk, [&hasher](const char* data, size_t size) {
    hasher.Add(data, size);
    return true;
  });
  const int read_errno = errno;
  ::close(fd);
  if (!read) return arrow::Status::IOError("reading input ", path, ": ", std::strerror(read_errno));
  return hasher.Hex();
}

arrow::Result<SpooledInput> SpoolAndFingerprint(std::FILE* stream) {
  SpooledInput spooled;
  spooled.file.reset(std::tmpfile());
  if (!spooled.file) {
    return arrow::Status::IOError("cannot create a temporary file for standard input: ", std::strerror(errno));
  }
  ContentHasher hasher;
  std::vector<char> chunk(kChunkBytes);
  std::FILE* spool = spooled.file.get();
  const bool copied = ReadAll(fileno(stream), &chunk, [&hasher, spool](const char* data, size_t size) {
    hasher.Add(data, size);
    return std::fwrite(data, 1, size, spool) == size;
  });
  if (!copied || std::fflush(spool) != 0) {
    return arrow::Status::IOError("spooling standard input: ", std::strerror(errno));
  }
  if (::lseek(fileno(spool), 0, SEEK_SET) != 0) {
    return arrow::Status::IOError("rewinding the spooled input: ", std::strerror(errno));
  }
  spooled.fingerprint = hasher.Hex();
  return spooled;
}

}  // namespace clickstream::source
