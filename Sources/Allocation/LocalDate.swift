// Calendar dates written "YYYY-MM-DD": plan days and flight dates, with their weekday.
// A date here has no time zone; LocalDay places it in one.

/// A proleptic Gregorian calendar date without a time zone.
struct LocalDate: Comparable, Hashable, Sendable, CustomStringConvertible {
  var year: Int
  var month: Int
  var day: Int

  /// Parses exactly "YYYY-MM-DD" with a day that exists in that month; nil otherwise.
  init?(_ text: String) {
    let bytes = Array(text.utf8)
    guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-") else {
      return nil
    }
    func number(_ range: Range<Int>) -> Int? {
      var value = 0
      for byte in bytes[range] {
        guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
        value = value * 10 + Int(byte - UInt8(ascii: "0"))
      }
      return value
    }
    guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
      year >= 1, (1...12).contains(month), day >= 1, day <= LocalDate.daysIn(month, of: year)
    else {
      return nil
    }
    self.year = year
    self.month = month
    self.day = day
  }

  var description: String {
    func pad(_ value: Int, _ width: Int) -> String {
      let digits = String(value)
      return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
    return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
  }

  /// The ISO weekday: 1 = Monday ... 7 = Sunday.
  var weekday: Int {
    // 1970-01-01 was a Thursday (ISO weekday 4).
    let days = daysSinceEpoch
    let offset = ((days % 7) + 7) % 7
    return (offset + 3) % 7 + 1
  }

  /// Days since 1970-01-01, by Howard Hinnant's days_from_civil algorithm
  /// ("chrono-Compatible Low-Level Date Algorithms").
  var daysSinceEpoch: Int {
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yearOfEra = y - era * 400
    let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    return era * 146_097 + dayOfEra - 719_468
  }

  static func < (lhs: LocalDate, rhs: LocalDate) -> Bool {
    (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
  }

  static func daysIn(_ month: Int, of year: Int) -> Int {
    switch month {
    case 2:
      let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
      return leap ? 29 : 28
    case 4, 6, 9, 11:
      return 30
    default:
      return 31
    }
  }
}
