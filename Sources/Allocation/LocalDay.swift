// The hours of a campaign's local day in its time zone: 23, 24 or 25 of them around DST changes.
// Foundation's Calendar does the time zone arithmetic; this file adds no rules of its own.

import Foundation

/// The hours of one local calendar day in one time zone, in order.
struct LocalDay: Sendable {
  /// One hour of the day: its first instant and its local hour of day (0...23).
  struct Hour: Sendable {
    var start: Date
    var localHour: Int
  }

  var date: LocalDate
  var start: Date
  var end: Date
  var hours: [Hour]

  /// Lays out `date` in `timeZone`, from its first local instant to the next day's.
  ///
  /// Hours are one-hour steps from the day's start, so in a zone whose DST shift is 30 minutes
  /// (Australia/Lord_Howe) the last hour of a change day covers only half an hour.
  init(date: LocalDate, timeZone: TimeZone) throws(AllocationError) {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = timeZone
    func startOfDay(_ year: Int, _ month: Int, _ day: Int) -> Date? {
      // Noon exists on every day a zone has, and startOfDay copes with a skipped midnight. A
      // day the zone skipped whole (Pacific/Apia on 2011-12-30) starts where it ends, with no
      // hours.
      let noon = DateComponents(year: year, month: month, day: day, hour: 12)
      return calendar.date(from: noon).map { calendar.startOfDay(for: $0) }
    }
    guard let start = startOfDay(date.year, date.month, date.day),
      let end = startOfDay(date.year, date.month, date.day + 1)
    else {
      throw AllocationError(
        message: "cannot place plan date \(date) in time zone \(timeZone.identifier)",
        fix: "check the plan date and the campaign's time_zone")
    }
    var hours: [Hour] = []
    var instant = start
    while instant < end {
      hours.append(Hour(start: instant, localHour: calendar.component(.hour, from: instant)))
      instant += 3600
    }
    self.date = date
    self.start = start
    self.end = end
    self.hours = hours
  }

  /// Returns whether each hour is active under `dayParting` (nil = every hour).
  func activeHours(_ dayParting: [Int: Set<Int>]?) -> [Bool] {
    guard let dayParting else {
      return hours.map { _ in true }
    }
    let allowed = dayParting[date.weekday] ?? []
    return hours.map { allowed.contains($0.localHour) }
  }

  /// Returns each hour's traffic weight from 24 weights by local hour (uniform when empty),
  /// times the part of a full hour that it covers.
  func trafficWeights(_ hourlyTraffic: [Double]) -> [Double] {
    let uniform = !(hourlyTraffic.count == 24 && hourlyTraffic.contains(where: { $0 > 0 }))
    return hours.indices.map { index in
      let weight = uniform ? 1 : hourlyTraffic[hours[index].localHour]
      let end = index + 1 < hours.count ? hours[index + 1].start : self.end
      return weight * min(1, end.timeIntervalSince(hours[index].start) / 3600)
    }
  }

  /// Returns the sum of the weights of a day of 24 whole hours, the day that a forecast's
  /// segments describe. An hour's share of the segments is its weight over this sum, so a day of
  /// 23 or 25 hours has 23 or 25 hours of traffic, not 24.
  static func fullDayWeight(_ hourlyTraffic: [Double]) -> Double {
    guard hourlyTraffic.count == 24, hourlyTraffic.contains(where: { $0 > 0 }) else {
      return 24
    }
    return hourlyTraffic.reduce(0, +)
  }
}
