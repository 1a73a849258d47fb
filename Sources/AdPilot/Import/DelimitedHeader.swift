// Column lookup by header name for delimited logs, so importers read columns by name and report
// a missing column once, as a file error, instead of rejecting every row.

import Foundation

/// Column positions of a delimited file's header line.
struct DelimitedHeader {
  let names: [String]
  private let positions: [String: Int]

  init(line: String, separator: Character) {
    let fields =
      separator == ","
      ? splitCSVLine(line) ?? splitFields(line, separator: ",")
      : splitFields(line, separator: separator)
    names = fields.map {
      String($0).trimmingCharacters(in: .whitespaces)
    }
    var positions: [String: Int] = [:]
    for (index, name) in names.enumerated() where positions[name] == nil {
      positions[name] = index
    }
    self.positions = positions
  }

  func contains(_ name: String) -> Bool { positions[name] != nil }

  /// Returns the positions of `required`, or throws an error naming the missing columns.
  func positions(of required: [String], file: String) throws -> [Int] {
    let missing = required.filter { positions[$0] == nil }
    if !missing.isEmpty && names.allSatisfy(\.isEmpty) {
      throw ImportError(
        file: file, line: 1, message: "the header line is empty",
        fix: "remove the empty lines before the header, which must be the first line")
    }
    // Listing every column of a wide layout (Taobao has 167) would hide the likely cause.
    if missing.count == required.count && required.count > 3 {
      // A line of another separator is one field, which may be as long as the line.
      let firstFields = names.prefix(3).map {
        $0.count > 40 ? "'\($0.prefix(40))...'" : "'\($0)'"
      }.joined(separator: ", ")
      throw ImportError(
        file: file, line: 1,
        message: "line 1 names none of the \(required.count) columns of this format ("
          + required.prefix(3).joined(separator: ", ") + ", ...), and its first fields are "
          + firstFields,
        fix: "put the format's header line first (this file may start with a data row), or "
          + "check that the file is in this format")
    }
    guard missing.isEmpty else {
      throw ImportError(
        file: file, line: 1,
        message: "missing column(s) \(missing.joined(separator: ", ")) in the header",
        fix: "use a file in the documented layout, with a header line")
    }
    return required.compactMap { positions[$0] }
  }
}
