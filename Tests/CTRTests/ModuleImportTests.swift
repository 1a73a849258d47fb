// The CTR module's imports. The adpilot extension links CTR into the PostgreSQL server with the
// static Swift standard library only, so CTR must not import Foundation (and with it ICU).

import Foundation
import Testing

@Test func ctrSourcesImportNoFoundation() throws {
  let sources = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Sources/CTR")
  let files = try FileManager.default.contentsOfDirectory(atPath: sources.path)
    .filter { $0.hasSuffix(".swift") }
  #expect(!files.isEmpty, "no Swift files found in \(sources.path)")

  for file in files {
    let text = try String(contentsOf: sources.appendingPathComponent(file), encoding: .utf8)
    let imports = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
      .filter { $0.hasPrefix("import ") || $0.hasPrefix("@testable import ") }
    for line in imports {
      // The last word is the module, or a module.declaration path for a scoped import.
      let module = line.split(separator: " ").last?.split(separator: ".").first ?? ""
      #expect(
        !module.hasPrefix("Foundation"),
        "Sources/CTR/\(file) has '\(line)'; use the C library through Math instead")
    }
  }
}
