// Tests of the log line format: sorted keys, and values quoted and escaped so that a value
// taken from data stays on its line.

import Testing

@testable import AdPilot

@Test func logLineSortsKeysAndKeepsPlainValues() {
  #expect(
    Logger.format(.info, "batch scored", ["rows": "42", "model": "synthetic-v1-ab"])
      == "info batch scored model=synthetic-v1-ab rows=42")
}

@Test func logValuesAreQuotedAndEscaped() {
  let cases: [(String, String)] = [
    ("", "\"\""),
    ("two words", "\"two words\""),
    ("say \"hi\"", "\"say \\\"hi\\\"\""),
    ("back\\slash", "\"back\\\\slash\""),
    ("ad\nfirst_request=forged", "\"ad\\nfirst_request=forged\""),
    ("tab\there", "\"tab\\there\""),
    ("bell\u{7}", "\"bell\\u{7}\""),
    ("line\u{2028}sep", "\"line\\u{2028}sep\""),
    ("淘宝", "淘宝"),
  ]
  for (value, expected) in cases {
    #expect(Logger.format(.warning, "m", ["k": value]) == "warning m k=\(expected)", "\(value)")
  }
}
