// The on-disk cache of encoded training and validation records: a private temporary directory
// whose files are written once from PostgreSQL and reread every later pass. In memory it keeps
// one write buffer of about 1 MiB; reads go to the caller's buffer.

import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A private temporary directory (mode 0700) for one training run's record files.
///
/// Each file is unlinked as soon as it is opened, so its blocks return to the file system when
/// its descriptor closes, even when the process is killed. ``remove()`` deletes the directory.
final class TrainingCacheDirectory {
  let path: String

  /// Creates the directory under the system's temporary directory (`TMPDIR` on Linux).
  init() throws {
    let parent = FileManager.default.temporaryDirectory.path
    var template = Array((parent + "/adpilot-train-XXXXXX").utf8CString)
    guard let created = mkdtemp(&template) else {
      throw PipelineError(
        "cannot create a training cache directory in '\(parent)': "
          + "\(String(cString: strerror(errno))); set TMPDIR to a writable directory")
    }
    path = String(cString: created)
  }

  /// Opens a new, empty record file of `width` Int32 words per record.
  func makeFile(name: String, width: Int) throws -> EncodedRecordFile {
    try EncodedRecordFile(path: path + "/" + name, width: width)
  }

  /// Deletes the directory and anything left in it.
  func remove() {
    try? FileManager.default.removeItem(atPath: path)
  }
}

/// An append-then-read file of fixed-width records of Int32 words, in the machine's byte order.
final class EncodedRecordFile {
  let path: String
  /// Int32 words per record.
  let width: Int
  /// Records appended so far.
  private(set) var count = 0
  private let descriptor: Int32
  private var pending: [Int32] = []
  private let pendingRecords: Int
  private var bytesWritten = 0

  init(path: String, width: Int) throws {
    self.path = path
    self.width = width
    descriptor = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard descriptor >= 0 else {
      throw PipelineError(
        "cannot create training cache file '\(path)': \(String(cString: strerror(errno))); "
          + "set TMPDIR to a writable directory with room for the encoded rows")
    }
    unlink(path)
    // About 1 MiB per write.
    pendingRecords = max(1, (1 << 18) / max(width, 1))
    pending.reserveCapacity(pendingRecords * width)
  }

  deinit {
    close(descriptor)
  }

  /// Appends one record of ``width`` words.
  func append(_ record: UnsafePointer<Int32>) throws {
    pending.append(contentsOf: UnsafeBufferPointer(start: record, count: width))
    count += 1
    if pending.count >= pendingRecords * width { try flush() }
  }

  /// Writes buffered records to the file; call it before reading.
  func flush() throws {
    try pending.withUnsafeBytes { bytes in
      guard let base = bytes.baseAddress else { return }
      var offset = 0
      while offset < bytes.count {
        let written = pwrite(
          descriptor, base + offset, bytes.count - offset,
          off_t(bytesWritten + offset))
        guard written > 0 else {
          throw PipelineError(
            "cannot write training cache file '\(path)': \(String(cString: strerror(errno))); "
              + "free disk space or point TMPDIR at a larger file system")
        }
        offset += written
      }
    }
    bytesWritten += pending.count * MemoryLayout<Int32>.size
    pending.removeAll(keepingCapacity: true)
  }

  /// Reads the records in order, `chunkRows` at a time, into `buffer` (room for `chunkRows`
  /// records) and calls `body` with the number of records read into it.
  func forEachChunk(
    rows chunkRows: Int, into buffer: UnsafeMutablePointer<Int32>, _ body: (Int) throws -> Void
  ) throws {
    try flush()
    var record = 0
    while record < count {
      let rows = min(chunkRows, count - record)
      try read(records: record..<(record + rows), into: buffer)
      try body(rows)
      record += rows
    }
  }

  /// Reads `records` (written and flushed) into `buffer`, which has room for them.
  func read(records: Range<Int>, into buffer: UnsafeMutablePointer<Int32>) throws {
    let total = records.count * width * MemoryLayout<Int32>.size
    let start = records.lowerBound * width * MemoryLayout<Int32>.size
    var offset = 0
    while offset < total {
      let read = pread(
        descriptor, UnsafeMutableRawPointer(buffer) + offset, total - offset,
        off_t(start + offset))
      guard read > 0 else {
        throw PipelineError(
          "cannot read training cache file '\(path)': "
            + (read == 0 ? "file ended early" : String(cString: strerror(errno))))
      }
      offset += read
    }
  }
}
