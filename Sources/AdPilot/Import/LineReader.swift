// Streams a text file line by line in fixed-size chunks, decompressing `.gz` files through
// `gzip -dc`. It never reads a whole file into memory and never writes to the file.

import Foundation

/// A reader of one file's lines, numbered from 1, without line terminators (LF or CRLF) or a
/// leading UTF-8 byte order mark.
///
/// Files ending in `.gz` are piped through `gzip -dc`. When gzip exits with an error (a truncated
/// or corrupt file), `next()` throws once the reader reaches the end of gzip's output.
public final class LineReader {
  public let path: String
  /// Number of the line most recently returned by `next()`.
  public private(set) var lineNumber = 0

  private let handle: FileHandle
  private let process: Process?
  private let errorPipe: Pipe?
  private var buffer: [UInt8] = []
  private var start = 0
  private var reachedEnd = false
  /// Whether the first bytes were checked for a UTF-16 byte order mark.
  private var checkedEncoding = false
  private static let chunkSize = 1 << 16

  /// Opens `url` for reading; throws an `ImportError` naming the file if it cannot be read.
  /// Whether the line `next()` returned last was valid UTF-8. When it was not, the line has
  /// U+FFFD in place of each invalid sequence, and importers reject it.
  public private(set) var lastLineIsValidUTF8 = true
  /// Whether the line `next()` returned last was longer than ``maxLineLength`` bytes. The line
  /// then contains only its first ``maxLineLength`` bytes, and importers reject it.
  public private(set) var lastLineIsTooLong = false

  /// The maximum length in bytes of a line that the reader returns whole. Lines of the
  /// supported logs take at most a few kilobytes (a Taobao DMR row of 267 fields about 3 KB),
  /// and the limit keeps a file without line breaks from being read into memory at once.
  public static let maxLineLength = 1 << 20

  /// The reason importers reject the line `next()` returned last, or nil when it can be parsed.
  public var lastLineRejectReason: String? {
    if lastLineIsTooLong { return RejectReason.lineTooLong }
    return lastLineIsValidUTF8 ? nil : RejectReason.invalidUTF8
  }

  public init(url: URL) throws {
    path = url.path
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw ImportError(file: path, message: "file not found", fix: "check the path")
    }
    guard !isDirectory.boolValue, FileManager.default.isReadableFile(atPath: path) else {
      throw ImportError(
        file: path, message: "not a readable regular file",
        fix: "check the path and the file's permissions")
    }
    if url.pathExtension == "gz" {
      let process = Process()
      process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
      process.arguments = ["gzip", "-dc", path]
      let output = Pipe()
      let errors = Pipe()
      process.standardOutput = output
      process.standardError = errors
      do {
        try process.run()
      } catch {
        throw ImportError(
          file: path, message: "failed to start gzip: \(error)", fix: "install gzip and retry")
      }
      self.process = process
      errorPipe = errors
      handle = output.fileHandleForReading
    } else {
      if Self.startsWithGzipMagic(path) {
        throw ImportError(
          file: path, message: "is gzip-compressed but its name does not end in .gz",
          fix: "rename it to end in .gz, or decompress it with gunzip")
      }
      do {
        handle = try FileHandle(forReadingFrom: url)
      } catch {
        throw ImportError(
          file: path, message: "open failed: \(error)", fix: "check the file's permissions")
      }
      process = nil
      errorPipe = nil
    }
  }

  /// Returns whether the regular file at `path` starts with gzip's magic bytes 1f 8b. Other
  /// files (FIFOs, devices) are not read ahead, since that would consume their bytes.
  private static func startsWithGzipMagic(_ path: String) -> Bool {
    let attributes = try? FileManager.default.attributesOfItem(atPath: path)
    guard attributes?[.type] as? FileAttributeType == .typeRegular,
      let peek = FileHandle(forReadingAtPath: path)
    else { return false }
    defer { try? peek.close() }
    let head = (try? peek.read(upToCount: 2)) ?? Data()
    return head.elementsEqual([0x1f, 0x8b])
  }

  deinit {
    if let process, process.isRunning {
      process.terminate()
    }
    try? handle.close()
  }

  /// Returns the next line, or nil at the end of the file.
  public func next() throws -> String? {
    while true {
      if let newline = nextNewline() {
        var end = newline
        if end > start && buffer[end - 1] == UInt8(ascii: "\r") {
          end -= 1
        }
        let line = takeLine(end: end)
        start = newline + 1
        return line
      }
      if reachedEnd {
        guard start < buffer.count else { return nil }
        var end = buffer.count
        if buffer[end - 1] == UInt8(ascii: "\r") {
          end -= 1
        }
        let line = takeLine(end: end)
        start = buffer.count
        return line
      }
      if buffer.count - start > Self.maxLineLength {
        return try truncateLongLine()
      }
      try fill()
    }
  }

  /// Returns the line from `start` to `end`, cut to ``maxLineLength`` bytes, and counts it.
  private func takeLine(end: Int) -> String {
    let lower = lineStart(end: end)
    lastLineIsTooLong = end - lower > Self.maxLineLength
    lineNumber += 1
    return decodeLine(from: lower, to: lastLineIsTooLong ? lower + Self.maxLineLength : end)
  }

  /// Returns the first ``maxLineLength`` bytes of the current line, which has no line break in
  /// the buffer, and reads past the rest of it without keeping it.
  private func truncateLongLine() throws -> String {
    let end = start + Self.maxLineLength
    let line = decodeLine(from: lineStart(end: end), to: end)
    lineNumber += 1
    lastLineIsTooLong = true
    buffer.removeAll(keepingCapacity: true)
    start = 0
    while true {
      let chunk = try readChunk()
      if chunk.isEmpty {
        reachedEnd = true
        try finishProcess()
        break
      }
      if let newline = chunk.firstIndex(of: UInt8(ascii: "\n")) {
        buffer.append(contentsOf: chunk[chunk.index(after: newline)...])
        break
      }
    }
    return line
  }

  /// Returns the index of the next LF at or after `start` (memchr, which is much faster than a
  /// generic search in unoptimized builds).
  private func nextNewline() -> Int? {
    guard start < buffer.count else { return nil }
    return buffer.withUnsafeBufferPointer { bytes -> Int? in
      guard let base = bytes.baseAddress,
        let found = memchr(base + start, Int32(UInt8(ascii: "\n")), bytes.count - start)
      else { return nil }
      return base.distance(to: found.assumingMemoryBound(to: UInt8.self))
    }
  }

  /// Returns where the current line's text starts: after a UTF-8 byte order mark on line 1,
  /// which some spreadsheet exports write, and at `start` otherwise.
  private func lineStart(end: Int) -> Int {
    let mark: [UInt8] = [0xEF, 0xBB, 0xBF]
    guard lineNumber == 0, end - start >= 3, Array(buffer[start..<(start + 3)]) == mark else {
      return start
    }
    return start + 3
  }

  private func decodeLine(from lower: Int, to upper: Int) -> String {
    buffer.withUnsafeBufferPointer { bytes in
      let line = UnsafeBufferPointer(rebasing: bytes[lower..<upper])
      if let valid = String(validating: line, as: UTF8.self) {
        lastLineIsValidUTF8 = true
        return valid
      }
      lastLineIsValidUTF8 = false
      return String(decoding: line, as: UTF8.self)
    }
  }

  private func fill() throws {
    if start > 0 {
      buffer.removeFirst(start)
      start = 0
    }
    let chunk = try readChunk()
    if chunk.isEmpty {
      reachedEnd = true
      try finishProcess()
    } else {
      buffer.append(contentsOf: chunk)
      // Before the first line is returned, the buffer starts at the file's first byte.
      if !checkedEncoding && buffer.count >= 2 {
        checkedEncoding = true
        if lineNumber == 0 { try rejectUTF16() }
      }
    }
  }

  /// Throws when the file starts with a UTF-16 byte order mark (FF FE or FE FF), as text saved
  /// by Windows tools as "Unicode" does. Read as UTF-8, every line of such a file would be
  /// rejected for its NUL bytes without naming the encoding.
  private func rejectUTF16() throws {
    let mark = (buffer[0], buffer[1])
    guard mark == (0xFF, 0xFE) || mark == (0xFE, 0xFF) else { return }
    let order = mark == (0xFF, 0xFE) ? "UTF-16LE" : "UTF-16BE"
    throw ImportError(
      file: path, line: 1, message: "is \(order) text (it starts with a UTF-16 byte order mark)",
      fix: "convert it to UTF-8, for example with `iconv -f UTF-16 -t UTF-8 FILE > FILE.utf8`")
  }

  private func readChunk() throws -> Data {
    do {
      return try handle.read(upToCount: Self.chunkSize) ?? Data()
    } catch {
      throw ImportError(
        file: path, line: lineNumber + 1, message: "read failed: \(error)", fix: "check the file")
    }
  }

  private func finishProcess() throws {
    guard let process else { return }
    process.waitUntilExit()
    guard process.terminationStatus != 0 else { return }
    let errorText =
      (try? errorPipe?.fileHandleForReading.readToEnd()).flatMap { $0 }
      .map { String(decoding: $0, as: UTF8.self) } ?? ""
    throw ImportError(
      file: path, line: lineNumber + 1,
      message: "gzip -dc failed with status \(process.terminationStatus): "
        + errorText.trimmingCharacters(in: .whitespacesAndNewlines),
      fix: "check that the file is a complete gzip file")
  }
}

/// Splits a delimited line into fields as they are written, without reading quotes. It serves
/// the tab-separated logs, which do not quote fields, and comma-separated files go through
/// ``splitCSVLine(_:)``.
func splitFields(_ line: String, separator: Character) -> [Substring] {
  // Splitting the UTF-8 view avoids grapheme breaking, which dominates the cost of parsing.
  guard let byte = separator.asciiValue else {
    return line.split(separator: separator, omittingEmptySubsequences: false)
  }
  return line.utf8.split(separator: byte, omittingEmptySubsequences: false).map { Substring($0) }
}

/// Splits a line of a comma-separated file into fields, reading RFC 4180 quotes: a field in
/// double quotes may contain commas, and `""` inside it is one quote. Tools such as Python's
/// csv module with QUOTE_ALL or QUOTE_NONNUMERIC quote every text field, and without this the
/// quotes would become part of the stored values. Returns nil when the quoting is invalid: a
/// quote left open (the reader does not join lines), text after a closing quote, or a quote
/// inside an unquoted field.
func splitCSVLine(_ line: String) -> [Substring]? {
  let quote = UInt8(ascii: "\"")
  let comma = UInt8(ascii: ",")
  guard line.utf8.contains(quote) else { return splitFields(line, separator: ",") }
  let bytes = Array(line.utf8)
  var fields: [Substring] = []
  var field: [UInt8] = []
  var index = 0
  while true {
    field.removeAll(keepingCapacity: true)
    if index < bytes.count && bytes[index] == quote {
      index += 1
      var closed = false
      while index < bytes.count {
        if bytes[index] == quote {
          // A doubled quote is one quote of the value; a single one closes the field.
          if index + 1 < bytes.count && bytes[index + 1] == quote {
            field.append(quote)
            index += 2
            continue
          }
          closed = true
          index += 1
          break
        }
        field.append(bytes[index])
        index += 1
      }
      guard closed, index == bytes.count || bytes[index] == comma else { return nil }
    } else {
      while index < bytes.count && bytes[index] != comma {
        if bytes[index] == quote { return nil }
        field.append(bytes[index])
        index += 1
      }
    }
    // Splitting valid UTF-8 at ASCII bytes keeps each part valid.
    fields.append(Substring(String(decoding: field, as: UTF8.self)))
    if index == bytes.count { return fields }
    index += 1
  }
}

/// Returns the reject reason of a line that ``splitCSVLine(_:)`` found invalid: an unclosed
/// quote when the line has an odd number of double quotes, so that it ends inside a quoted
/// field, and invalid quoting otherwise.
func csvQuotingReason(_ line: String) -> String {
  let quotes = line.utf8.reduce(0) { $0 + ($1 == UInt8(ascii: "\"") ? 1 : 0) }
  return quotes % 2 == 1 ? RejectReason.unclosedQuote : RejectReason.invalidQuoting
}
