// Size, seed and dates of a synthetic ad log. Validation only: this file generates nothing and
// touches no database.

import Foundation

/// The size, seed and calendar of a synthetic log. The defaults generate in seconds.
public struct SyntheticConfig: Sendable, Equatable {
  /// Number of users with profiles and behaviour histories.
  public var users: Int
  /// Number of ads, spread over the fixed campaign set.
  public var ads: Int
  /// Number of logged days, starting at `startDate`.
  public var days: Int
  /// Mean number of impressions per day before day-to-day noise.
  public var impressionsPerDay: Int
  /// Maximum number of behaviour items logged with an impression (the spec's maxSequenceLength).
  public var maxSequenceLength: Int
  /// Seed of every random draw. The same seed gives the same rows.
  public var seed: UInt64
  /// First logged day, "YYYY-MM-DD" (UTC).
  public var startDate: String
  /// Number of trailing days whose impressions get split 'test'. Earlier days are 'train'.
  public var testDays: Int
  /// Number of ad requests for the day after the log.
  public var requests: Int
  /// Number of candidate ads per ad request.
  public var candidatesPerRequest: Int

  /// Creates a configuration. Every argument has a demo default.
  public init(
    users: Int = 20_000, ads: Int = 400, days: Int = 8, impressionsPerDay: Int = 25_000,
    maxSequenceLength: Int = 30, seed: UInt64 = 20_260_105, startDate: String = "2026-01-05",
    testDays: Int = 1, requests: Int = 2_000, candidatesPerRequest: Int = 8
  ) {
    self.users = users
    self.ads = ads
    self.days = days
    self.impressionsPerDay = impressionsPerDay
    self.maxSequenceLength = maxSequenceLength
    self.seed = seed
    self.startDate = startDate
    self.testDays = testDays
    self.requests = requests
    self.candidatesPerRequest = candidatesPerRequest
  }

  /// Checks every field and returns the first day's midnight in seconds since 1970 (UTC).
  func validated() throws(SyntheticConfigError) -> Int64 {
    // The upper bounds keep every count and its arithmetic far from overflow, and each is
    // far beyond what one machine writes in a day.
    try Self.require(
      (1...Self.maximumCount).contains(users), "users", users,
      "use 1 to \(Self.maximumCount) users")
    try Self.require(
      (SyntheticCampaigns.all.count...Self.maximumAds).contains(ads), "ads", ads,
      "use \(SyntheticCampaigns.all.count) to \(Self.maximumAds) ads, at least one per campaign")
    try Self.require(
      (1...Self.maximumDays).contains(days), "days", days,
      "use 1 to \(Self.maximumDays) days")
    try Self.require(
      (1...Self.maximumCount).contains(impressionsPerDay), "impressionsPerDay",
      impressionsPerDay, "use 1 to \(Self.maximumCount) impressions a day")
    try Self.require(
      (1...1_000).contains(maxSequenceLength), "maxSequenceLength", maxSequenceLength,
      "use a length from 1 to 1000")
    try Self.require(
      (0...days).contains(testDays), "testDays", testDays, "use 0 up to the number of days")
    try Self.require(
      (0...Self.maximumCount).contains(requests), "requests", requests,
      "use 0 to \(Self.maximumCount)")
    try Self.require(
      (1...ads).contains(candidatesPerRequest), "candidatesPerRequest", candidatesPerRequest,
      "use 1 up to the number of ads")
    guard let start = CivilDate.epochSeconds(of: startDate) else {
      throw SyntheticConfigError(
        field: "startDate", value: startDate, fix: "write the date as YYYY-MM-DD")
    }
    // The log's weekday and hour arithmetic works on non-negative seconds since 1970.
    guard start >= 0 else {
      throw SyntheticConfigError(
        field: "startDate", value: startDate, fix: "use a date from 1970-01-01 on")
    }
    // The day after the last, which `allocate --next-day` plans, must still be a date.
    let lastPlanDay = CivilDate.epochSeconds(of: "9999-12-31") ?? Int64.max
    guard start + Int64(days) * 86_400 <= lastPlanDay else {
      throw SyntheticConfigError(
        field: "startDate", value: startDate,
        fix: "use a start date from which \(days) days end before 9999-12-31")
    }
    return start
  }

  /// The largest number of users, impressions per day or requests.
  static let maximumCount = 100_000_000
  /// The largest number of ads.
  static let maximumAds = 1_000_000
  /// The largest number of days: ten years.
  static let maximumDays = 3_660

  private static func require(
    _ condition: Bool, _ field: String, _ value: Int, _ fix: String
  ) throws(SyntheticConfigError) {
    if !condition {
      throw SyntheticConfigError(field: field, value: String(value), fix: fix)
    }
  }
}

/// An invalid synthetic configuration field, with its value and the fix.
public struct SyntheticConfigError: Error, CustomStringConvertible, Sendable, Equatable {
  /// The configuration field that failed.
  public var field: String
  /// The rejected value, as text.
  public var value: String
  /// The change that makes the value valid.
  public var fix: String

  /// The message: "synthetic config: invalid days 0: use 1 to 3660 days".
  public var description: String {
    "synthetic config: invalid \(field) \(value): \(fix)"
  }
}

/// Conversions between "YYYY-MM-DD" UTC dates and seconds since 1970, without a Calendar.
enum CivilDate {
  /// Returns midnight UTC of a "YYYY-MM-DD" date in seconds since 1970, or nil if it is malformed.
  static func epochSeconds(of text: String) -> Int64? {
    let parts = text.split(separator: "-", omittingEmptySubsequences: false)
    guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
      let year = Int64(parts[0]), let month = Int64(parts[1]), let day = Int64(parts[2]),
      (1...12).contains(month), (1...daysInMonth(year: year, month: month)).contains(day)
    else { return nil }
    return daysFromCivil(year: year, month: month, day: day) * 86_400
  }

  /// Returns the "YYYY-MM-DD" UTC date containing `seconds` since 1970.
  static func text(ofEpochSeconds seconds: Int64) -> String {
    let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
    let (year, month, day) = civilFromDays(days)
    let y = String(year)
    let m = month < 10 ? "0\(month)" : "\(month)"
    let d = day < 10 ? "0\(day)" : "\(day)"
    return "\(y)-\(m)-\(d)"
  }

  /// Returns the ISO weekday (1 = Monday ... 7 = Sunday) of the UTC day containing `seconds`.
  static func isoWeekday(ofEpochSeconds seconds: Int64) -> Int {
    let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
    // 1970-01-01 was a Thursday (ISO weekday 4).
    let offset = (days + 3) % 7
    return Int(offset < 0 ? offset + 7 : offset) + 1
  }

  private static func daysInMonth(year: Int64, month: Int64) -> Int64 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    let lengths: [Int64] = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    return lengths[Int(month - 1)]
  }

  // Days since 1970-01-01 of a proleptic Gregorian date. Years are counted from March 1 in
  // 400-year eras of 146,097 days, so a leap day is the last day of its year.
  private static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yearOfEra = y - era * 400
    let shiftedMonth = month > 2 ? month - 3 : month + 9
    let dayOfYear = (153 * shiftedMonth + 2) / 5 + day - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    return era * 146_097 + dayOfEra - 719_468
  }

  // The inverse of daysFromCivil, with the same March-based 400-year eras.
  private static func civilFromDays(_ days: Int64) -> (Int64, Int64, Int64) {
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let dayOfEra = z - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let shiftedMonth = (5 * dayOfYear + 2) / 153
    let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
    let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
    return (month <= 2 ? yearOfEra + era * 400 + 1 : yearOfEra + era * 400, month, day)
  }
}
