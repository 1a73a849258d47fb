// Conversions between Foundation dates and PostgreSQL's binary timestamp: signed 64-bit
// microseconds since 2000-01-01 00:00:00 UTC. Sub-microsecond parts of a Date are rounded away.

import Foundation

enum PostgresTime {
  /// Microseconds from the PostgreSQL epoch (2000-01-01 UTC) to Foundation's reference date
  /// (2001-01-01 UTC): 366 days, because 2000 is a leap year.
  static let referenceDateMicros: Int64 = 366 * 86_400 * 1_000_000

  /// Converts a date to microseconds since 2000-01-01 UTC, rounding to the nearest microsecond.
  /// Dates beyond the Int64 range clamp to PostgreSQL's `infinity` and `-infinity`.
  static func micros(from date: Date) -> Int64 {
    let sinceReference = (date.timeIntervalSinceReferenceDate * 1_000_000).rounded()
    let limit = Double(Int64.max - referenceDateMicros)
    if sinceReference >= limit { return Int64.max }
    if sinceReference <= -limit { return Int64.min }
    return Int64(sinceReference) + referenceDateMicros
  }

  /// Converts microseconds since 2000-01-01 UTC to a date. The single integer-to-double division
  /// is correctly rounded, so `micros(from: date(fromMicros: m)) == m` while |m| < 2^52
  /// (about 142 years either side of 2001).
  static func date(fromMicros micros: Int64) -> Date {
    let sinceReference = micros.subtractingReportingOverflow(referenceDateMicros)
    if sinceReference.overflow {
      return Date(timeIntervalSinceReferenceDate: micros < 0 ? -.infinity : .infinity)
    }
    return Date(timeIntervalSinceReferenceDate: Double(sinceReference.partialValue) / 1_000_000)
  }
}
