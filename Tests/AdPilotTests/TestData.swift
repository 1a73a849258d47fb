// Locations of the test fixtures and of the shared public ad logs, found from this file's path.
// Tests only read these files and write under the temporary directory, except the campaign
// file test when ADPILOT_WRITE_CAMPAIGNS=1 asks it to rewrite campaigns/ipinyou_rlb.

import Foundation

enum TestData {
  /// The package root: three levels above this file (Tests/AdPilotTests/TestData.swift).
  static let packageRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

  /// `ADPILOT_DATA`, else the `shared/data` folder beside the checkout.
  static var sharedData: URL {
    if let path = ProcessInfo.processInfo.environment["ADPILOT_DATA"], !path.isEmpty {
      return URL(fileURLWithPath: path)
    }
    return packageRoot.deletingLastPathComponent().appendingPathComponent("shared/data")
  }

  static func shared(_ relativePath: String) -> URL {
    sharedData.appendingPathComponent(relativePath)
  }

  static func fixture(_ name: String) -> URL {
    packageRoot.appendingPathComponent("Tests/AdPilotTests/Fixtures").appendingPathComponent(name)
  }

  /// Creates a fresh temporary directory for one test.
  static func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory
      .appendingPathComponent("adpilot-ingest-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }
}
