// Tests of the impression writer's UTC day arithmetic, which picks the day partitions to create.
// The writer's database round trip is tested in ImporterDatabaseTests.

import Foundation
import Testing

@testable import AdPilot

@Suite struct ImpressionWriterTests {
  @Test func isoDateMatchesCalendar() throws {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = try #require(TimeZone(identifier: "UTC"))
    let formatter = DateFormatter()
    formatter.calendar = calendar
    formatter.timeZone = calendar.timeZone
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.dateFormat = "yyyy-MM-dd"
    // Foundation switches to the Julian calendar before 1582, so the range starts in 1696.
    for day in stride(from: -100_000, through: 800_000, by: 997) {
      let date = Date(timeIntervalSince1970: Double(day) * 86_400)
      #expect(ImpressionWriter.isoDate(utcDay: day) == formatter.string(from: date))
    }
    #expect(ImpressionWriter.isoDate(utcDay: 0) == "1970-01-01")
    #expect(ImpressionWriter.isoDate(utcDay: 15_706) == "2013-01-01")
  }

  @Test func utcDayFloorsNegativeTimes() {
    #expect(ImpressionWriter.utcDay(Date(timeIntervalSince1970: -1)) == -1)
    #expect(ImpressionWriter.utcDay(Date(timeIntervalSince1970: 86_399.5)) == 0)
    #expect(ImpressionWriter.utcDay(Date(timeIntervalSince1970: 86_400)) == 1)
  }
}
