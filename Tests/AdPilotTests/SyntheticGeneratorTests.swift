// Tests of the synthetic log generator without a database: determinism, click rates, the gap
// between the hidden model and a per-field baseline, history order, traffic shape and layout.
// The database round trip is in SyntheticDatabaseTests.swift.

import CTR
import Foundation
import Testing

@testable import AdPilot

@Suite struct SyntheticGeneratorTests {
  static let small = SyntheticConfig(
    users: 400, ads: 48, days: 2, impressionsPerDay: 1_500, maxSequenceLength: 10, requests: 50,
    candidatesPerRequest: 5)
  static let moderate = SyntheticConfig(users: 5_000, ads: 200, days: 3, impressionsPerDay: 20_000)

  @Test func sameSeedGivesSameRows() throws {
    let first = try CollectedLog(Self.small)
    let second = try CollectedLog(Self.small)
    #expect(first.history == second.history)
    #expect(first.days.map(\.events) == second.days.map(\.events))
    #expect(first.impressions == second.impressions)
    #expect(first.requests == second.requests)
    #expect(first.impressions.count > 2_000)
  }

  @Test func chunkSizeDoesNotChangeRows() throws {
    let whole = try CollectedLog(Self.small)
    let chunked = try CollectedLog(Self.small, chunkSize: 500)
    #expect(chunked.days == whole.days)
    #expect(chunked.requests == whole.requests)
    #expect(whole.chunkSizes == whole.days.map(\.impressions.count))
    #expect(chunked.chunkSizes.allSatisfy { $0 <= 500 })
    // Each day ends in one short chunk, so no chunk spans two days.
    let expectedChunks = whole.days.reduce(0) { $0 + ($1.impressions.count + 499) / 500 }
    #expect(chunked.chunkSizes.count == expectedChunks)
  }

  @Test func differentSeedGivesDifferentRows() throws {
    var config = Self.small
    config.seed += 1
    let first = try CollectedLog(Self.small)
    let second = try CollectedLog(config)
    #expect(first.history != second.history)
    #expect(first.impressions != second.impressions)
    #expect(first.requests != second.requests)
  }

  @Test func clickRateWithinTwoToFivePercent() throws {
    let rows = try CollectedLog(Self.moderate).impressions
    let clicks = rows.reduce(0.0) { $0 + Double($1.click) }
    let rate = clicks / Double(rows.count)
    let meanTruePCTR = rows.reduce(0.0) { $0 + ($1.truePCTR ?? .nan) } / Double(rows.count)
    #expect(rows.count > 50_000)
    #expect(rate > 0.02)
    #expect(rate < 0.05)
    // Clicks are Bernoulli(true_pctr): the rate is within 4 standard errors of the mean pCTR.
    let standardError = (meanTruePCTR * (1 - meanTruePCTR) / Double(rows.count)).squareRoot()
    #expect(abs(rate - meanTruePCTR) < 4 * standardError)
  }

  @Test func truePCTRBeatsPerFieldRates() throws {
    let rows = try CollectedLog(Self.moderate).impressions
    let labels = rows.map(\.click)
    let trueAUC = areaUnderCurve(scores: rows.map { $0.truePCTR ?? 0 }, labels: labels)
    let baselineAUC = areaUnderCurve(scores: perFieldRateScores(rows), labels: labels)
    #expect(trueAUC - baselineAUC >= 0.03, "true \(trueAUC) vs per-field \(baselineAUC)")
    #expect(baselineAUC > 0.55, "the per-field effects are visible to the baseline")
  }

  @Test func areaUnderCurveMatchesHandCount() {
    // Positives 0.8 and 0.4 against negatives 0.3, 0.4 and 0.1: five of the six pairs are
    // ordered correctly and the tie 0.4 = 0.4 counts one half, so AUC = 5.5 / 6.
    let auc = areaUnderCurve(scores: [0.8, 0.4, 0.3, 0.4, 0.1], labels: [1, 1, 0, 0, 0])
    #expect(abs(auc - 5.5 / 6.0) < 1e-12)
  }

  @Test func interestMatchCountsLoggedItems() {
    var history = BehaviourHistory(users: 1, capacity: 5)
    // Oldest first: (category 3, brand 24), (category 5, brand 40), (category 3, brand 25).
    for (time, item) in [(1, (3, 24)), (2, (5, 40)), (3, (3, 25))] {
      history.record(
        SyntheticEvent(
          timeMicros: Int64(time), user: 0, category: UInt16(item.0), brand: UInt16(item.1)))
    }
    let ad = SyntheticAd(id: "ad-0001", campaign: 0, category: 3, brand: 24, priceBand: 0)
    // Recency 0 matches the category (1.0), recency 1 nothing, recency 2 the category and the
    // brand (1.0 + 1.5), each item with the same weight. The latest two items hold only the
    // category match.
    let full = HiddenClickModel.interestMatch(ad: ad, user: 0, history: history, length: 5)
    let latestTwo = HiddenClickModel.interestMatch(ad: ad, user: 0, history: history, length: 2)
    #expect(abs(full - 3.5) < 1e-12)
    #expect(abs(latestTwo - 1.0) < 1e-12)
  }

  @Test func interestTermShiftsLogitExactly() throws {
    let world = SyntheticWorld(config: Self.small)
    let model = HiddenClickModel(seed: Self.small.seed, ads: Self.small.ads)
    func logit(_ match: Double) -> Double {
      let p = model.probability(
        world: world, user: 7, adIndex: 3, slot: 2, hour: 20, weekday: 4, interestMatch: match)
      return log(p / (1 - p))
    }
    for match in [0.5, 1.0, 2.5, 6.0] {
      let expected = 2.6 * (1 - exp(-match / 6.0))
      #expect(abs(logit(match) - logit(0) - expected) < 1e-9, "match \(match)")
    }
  }

  @Test func historyItemsPrecedeImpression() throws {
    let log = try CollectedLog(Self.small)
    var eventsByUser = [Int32: [SyntheticEvent]]()
    for event in log.history + log.days.flatMap(\.events) {
      eventsByUser[event.user, default: []].append(event)
    }
    let length = Self.small.maxSequenceLength
    var checked = 0
    for row in log.impressions {
      let user = try #require(Int32(row.userId?.dropFirst() ?? "")) - 1
      let timeMicros = Int64((row.time.timeIntervalSince1970 * 1_000_000).rounded())
      let earlier = (eventsByUser[user] ?? []).filter { $0.timeMicros < timeMicros }
      let expected = earlier.suffix(length).reversed().flatMap { event in
        [SyntheticSchema.categories[Int(event.category)], SyntheticSchema.brands[Int(event.brand)]]
      }
      #expect(row.seq == expected, "request \(row.requestId)")
      checked += expected.isEmpty ? 0 : 1
    }
    #expect(checked > log.impressions.count / 2)
  }

  @Test func trafficFollowsHourShape() throws {
    var config = Self.small
    config.days = 4
    config.impressionsPerDay = 12_000
    let rows = try CollectedLog(config).impressions
    var counts = Array(repeating: 0.0, count: 24)
    for row in rows {
      counts[Int(row.time.timeIntervalSince1970.truncatingRemainder(dividingBy: 86_400)) / 3_600] +=
        1
    }
    let shapeTotal = SyntheticLog.hourShape.reduce(0, +)
    for hour in 0..<24 {
      let expected = Double(rows.count) * SyntheticLog.hourShape[hour] / shapeTotal
      // Poisson noise: 5 standard deviations of the count.
      #expect(abs(counts[hour] - expected) < 5 * expected.squareRoot(), "hour \(hour)")
    }
    #expect(counts[20] > 5 * counts[3])
  }

  @Test func dailyTrafficVariesAroundMean() throws {
    var config = Self.small
    config.days = 7
    let log = try CollectedLog(config)
    let counts = log.days.map(\.impressions.count)
    #expect(Set(counts).count == counts.count)
    for count in counts {
      #expect(count > 1_000)
      #expect(count < 2_000)
    }
    #expect(log.days.map(\.date).first == "2026-01-05")
    #expect(log.days.map(\.date).last == "2026-01-11")
  }

  @Test func impressionsLogFeaturesInSpecOrder() throws {
    let generator = try SyntheticGenerator(Self.small)
    let spec = generator.featureSpec
    let log = try CollectedLog(Self.small)
    #expect(spec.categorical.count == 16)
    #expect(spec.categorical.filter { $0.role == .user }.count == 8)
    #expect(spec.categorical.filter { $0.role == .ad }.count == 5)
    #expect(spec.categorical.filter { $0.role == .context }.count == 3)
    #expect(spec.sequence.map(\.sharesEmbeddingWith) == ["ad_category", "ad_brand"])
    #expect(spec.maxSequenceLength == 10)
    #expect(spec.embeddingDimension == 16)
    let adField = try #require(spec.categorical.firstIndex { $0.name == "ad_id" })
    let hourField = try #require(spec.categorical.firstIndex { $0.name == "hour" })
    for row in log.impressions {
      #expect(row.cat.count == 16)
      #expect(row.cat[adField] == row.adId)
      #expect(row.seq.count <= 20)
      #expect(row.seq.count % 2 == 0)
      let hour = Int(row.time.timeIntervalSince1970.truncatingRemainder(dividingBy: 86_400)) / 3_600
      #expect(row.cat[hourField] == SyntheticSchema.hours[hour])
    }
  }

  @Test func featureSpecValidatesInCTR() throws {
    let spec = try SyntheticGenerator().featureSpec
    try spec.validate()
    #expect(spec.categorical.map(\.name).prefix(3) == ["gender", "age_band", "city_tier"])
    #expect(spec.categorical.first { $0.name == "ad_id" }?.buckets == 2_048)
  }

  @Test func encoderKeepsFieldValuesApart() throws {
    let spec = try SyntheticGenerator().featureSpec
    let encoder = FeatureEncoder(spec: spec)
    let advertisers = Array(Set(SyntheticCampaigns.all.map(\.advertiser)))
    let valuesByField: [[String]] =
      SyntheticSchema.userFields.map(\.values) + [
        [], SyntheticSchema.categories, SyntheticSchema.brands, advertisers,
        SyntheticSchema.priceBands, SyntheticSchema.hours, SyntheticSchema.slots,
        SyntheticSchema.weekdays,
      ]
    #expect(valuesByField.count == spec.categorical.count)
    for (field, values) in valuesByField.enumerated() {
      let rows = Set(values.map { encoder.categoricalRow(field: field, value: $0) })
      #expect(rows.count == values.count, "\(spec.categorical[field].name)")
    }
  }

  @Test func lastDayIsTestSplit() throws {
    let log = try CollectedLog(Self.small)
    #expect(log.days[0].impressions.allSatisfy { $0.split == "train" })
    #expect(log.days[1].impressions.allSatisfy { $0.split == "test" })
  }

  @Test func costsAreLogNormalPerCampaign() throws {
    let rows = try CollectedLog(Self.small).impressions
    for campaign in SyntheticCampaigns.all {
      let costs = rows.filter { $0.campaignId == campaign.id }.map(\.costMicros).sorted()
      #expect(costs.count > 50, "\(campaign.id)")
      #expect(costs.allSatisfy { $0 >= 1 })
      let median = Double(costs[costs.count / 2])
      #expect(abs(median / campaign.medianCostMicros - 1) < 0.25, "\(campaign.id) median \(median)")
    }
  }

  @Test func adRequestsHaveDistinctCandidates() throws {
    let log = try CollectedLog(Self.small)
    let byRequest = Dictionary(grouping: log.requests, by: \.requestId)
    #expect(byRequest.count == 50)
    for (requestId, rows) in byRequest {
      #expect(Set(rows.map(\.adId)).count == 5, "\(requestId)")
      #expect(Set(rows.map(\.userId)).count == 1, "\(requestId)")
    }
    let dayAfter = try #require(CivilDate.epochSeconds(of: "2026-01-07"))
    for row in log.requests {
      #expect(row.time.timeIntervalSince1970 >= Double(dayAfter))
      #expect(row.time.timeIntervalSince1970 < Double(dayAfter + 86_400))
      #expect(row.cat.count == 16)
    }
  }

  @Test func campaignIdsMatchCampaignFiles() throws {
    let folder = URL(fileURLWithPath: #filePath)
      .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("campaigns/synthetic")
    let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
      .filter { $0.hasSuffix(".json") && $0 != "portfolio.json" }
    var advertisers = [String: String]()
    for name in names {
      let data = try Data(contentsOf: folder.appendingPathComponent(name))
      let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
      let id = try #require(object["id"] as? String)
      #expect(name == id + ".json")
      #expect(object["dataset"] as? String == "synthetic")
      advertisers[id] = object["advertiser"] as? String
    }
    #expect(advertisers.keys.sorted() == SyntheticGenerator.campaignIds)
    for campaign in SyntheticCampaigns.all {
      #expect(advertisers[campaign.id] == campaign.advertiser, "\(campaign.id)")
    }
  }

  @Test func configRejectsInvalidValues() {
    #expect(throws: SyntheticConfigError(field: "days", value: "0", fix: "use 1 to 3660 days")) {
      try SyntheticGenerator(SyntheticConfig(days: 0))
    }
    // Counts past the bounds used to overflow inside the generator, which trapped.
    #expect(
      throws: SyntheticConfigError(
        field: "impressionsPerDay", value: "\(Int.max)",
        fix: "use 1 to 100000000 impressions a day")
    ) {
      try SyntheticGenerator(SyntheticConfig(impressionsPerDay: Int.max))
    }
    // A day without impressions would replace the data set's log with nothing.
    #expect(
      throws: SyntheticConfigError(
        field: "impressionsPerDay", value: "0", fix: "use 1 to 100000000 impressions a day")
    ) {
      try SyntheticGenerator(SyntheticConfig(impressionsPerDay: 0))
    }
    #expect(throws: SyntheticConfigError.self) {
      try SyntheticGenerator(SyntheticConfig(days: 3661))
    }
    #expect(throws: SyntheticConfigError.self) {
      try SyntheticGenerator(SyntheticConfig(users: 100_000_001))
    }
    #expect(throws: SyntheticConfigError.self) {
      try SyntheticGenerator(SyntheticConfig(requests: 100_000_001))
    }
    #expect(throws: SyntheticConfigError.self) {
      try SyntheticGenerator(SyntheticConfig(ads: 1_000_001))
    }
    #expect(throws: SyntheticConfigError.self) {
      try SyntheticGenerator(SyntheticConfig(startDate: "2026-02-30"))
    }
    #expect(throws: SyntheticConfigError.self) {
      try SyntheticGenerator(SyntheticConfig(ads: 5))
    }
    for date in ["1969-12-31", "0001-01-01"] {
      #expect(
        throws: SyntheticConfigError(
          field: "startDate", value: date, fix: "use a date from 1970-01-01 on")
      ) {
        try SyntheticGenerator(SyntheticConfig(startDate: date))
      }
    }
    #expect(throws: Never.self) {
      try SyntheticGenerator(SyntheticConfig(startDate: "1970-01-01"))
    }
    // The day after the log must still be a plan date.
    #expect(
      throws: SyntheticConfigError(
        field: "startDate", value: "9999-12-24",
        fix: "use a start date from which 8 days end before 9999-12-31")
    ) {
      try SyntheticGenerator(SyntheticConfig(days: 8, startDate: "9999-12-24"))
    }
    #expect(throws: Never.self) {
      try SyntheticGenerator(SyntheticConfig(days: 8, startDate: "9999-12-23"))
    }
    let error = SyntheticConfigError(field: "days", value: "0", fix: "use 1 to 3660 days")
    #expect(error.description == "synthetic config: invalid days 0: use 1 to 3660 days")
  }

  @Test func civilDateConvertsKnownDays() {
    #expect(CivilDate.epochSeconds(of: "1970-01-01") == 0)
    #expect(CivilDate.epochSeconds(of: "2026-01-05") == 1_767_571_200)
    #expect(CivilDate.epochSeconds(of: "2024-02-29") == 1_709_164_800)
    #expect(CivilDate.epochSeconds(of: "2026-1-05") == nil)
    #expect(CivilDate.text(ofEpochSeconds: 1_767_571_200 + 86_399) == "2026-01-05")
    #expect(CivilDate.text(ofEpochSeconds: -1) == "1969-12-31")
    #expect(CivilDate.isoWeekday(ofEpochSeconds: 1_767_571_200) == 1)
    #expect(CivilDate.isoWeekday(ofEpochSeconds: 0) == 4)
  }
}
