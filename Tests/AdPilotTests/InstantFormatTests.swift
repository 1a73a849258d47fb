// Tests of the ISO 8601 instants that plans, forecasts and messages write, against Foundation's
// formatter.

import Foundation
import Testing

@testable import AdPilot

@Suite struct InstantFormatTests {
  static func foundation(_ date: Date) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.string(from: date)
  }

  @Test func knownInstants() {
    let cases: [(Double, String)] = [
      (0, "1970-01-01T00:00:00.000Z"),
      (-0.001, "1969-12-31T23:59:59.999Z"),
      (951_782_400, "2000-02-29T00:00:00.000Z"),
      (4_107_542_400.5, "2100-03-01T00:00:00.500Z"),
      (1_767_744_000, "2026-01-07T00:00:00.000Z"),
      (-2_208_988_800, "1900-01-01T00:00:00.000Z"),
      (253_402_300_799.999, "9999-12-31T23:59:59.999Z"),
      (1_371_168_000.0009, "2013-06-14T00:00:00.000Z"),
    ]
    for (seconds, expected) in cases {
      #expect(isoInstant(Date(timeIntervalSince1970: seconds)) == expected)
    }
  }

  @Test func matchesFoundationOnWholeMilliseconds() {
    var generator = SeededGenerator(seed: 7)
    // From 1900 to 2200, in whole milliseconds, where both formatters agree exactly.
    for _ in 0..<5_000 {
      let milliseconds = Int64.random(
        in: -2_208_988_800_000..<7_258_118_400_000, using: &generator)
      let date = Date(timeIntervalSince1970: Double(milliseconds) / 1000)
      #expect(isoInstant(date) == Self.foundation(date), "\(milliseconds) ms")
    }
  }
}
