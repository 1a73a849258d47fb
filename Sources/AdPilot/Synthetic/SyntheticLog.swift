// The day-by-day generation of behaviour events, impressions and ad requests. Only the current
// day's events, one chunk of impressions and the users' ring buffers are in memory, so memory does
// not grow with the number of impressions. Nothing here writes to the database.

import Foundation

/// One candidate of an ad request for the day after the log, with features logged as served.
struct SyntheticAdRequest: Sendable, Equatable {
  var requestId: String
  var adId: String
  var campaignId: String
  var userId: String
  var time: Date
  var cat: [String?]
  var seq: [String?]
  /// The hidden model's click probability, not stored in adpilot.ad_requests.
  var truePCTR: Double
}

/// The generator's state between days: the population, the hidden model and users' histories.
struct SyntheticLog: Sendable {
  /// Relative traffic of each UTC hour: a night trough, a midday plateau and an evening peak.
  static let hourShape: [Double] = [
    0.30, 0.20, 0.15, 0.12, 0.12, 0.18, 0.35, 0.60, 0.85, 0.95, 1.00, 1.05,
    1.10, 1.05, 1.00, 0.98, 1.00, 1.08, 1.20, 1.35, 1.45, 1.40, 1.05, 0.60,
  ]
  /// Relative traffic of each weekday, Monday first.
  static let weekdayTraffic = [0.97, 0.98, 1.00, 1.00, 1.03, 1.08, 1.05]
  /// Standard deviation of the log of a day's traffic around its weekday level.
  static let dailyTrafficNoise = 0.08
  /// Share of impressions whose ad is picked from a category the user viewed recently.
  static let retargetShare = 0.4
  /// How many of the latest items retargeting picks from.
  static let retargetWindow = 5
  /// Mean behaviour events per user and day, at average activity.
  static let dailyEventRate = 0.8
  /// Mean events per user in the history before the first logged day, spread over
  /// `initialHistoryDays` days.
  static let initialEventMean = 10.0
  static let initialHistoryDays = 14

  static let microsPerDay: Int64 = 86_400_000_000
  static let microsPerMillisecond: Int64 = 1_000

  let config: SyntheticConfig
  /// Maximum number of impressions handed over at once.
  let chunkSize: Int
  /// First logged day's midnight UTC, in microseconds since 1970.
  let startMicros: Int64
  let world: SyntheticWorld
  let model: HiddenClickModel
  private(set) var history: BehaviourHistory
  private let hourSampler = AliasSampler(weights: hourShape)

  init(config: SyntheticConfig, chunkSize: Int = 16_384) throws(SyntheticConfigError) {
    let startSeconds = try config.validated()
    self.config = config
    self.chunkSize = max(1, chunkSize)
    startMicros = startSeconds * 1_000_000
    world = SyntheticWorld(config: config)
    model = HiddenClickModel(seed: config.seed, ads: config.ads)
    history = BehaviourHistory(users: config.users, capacity: config.maxSequenceLength)
  }

  // ---------------------------------------------------------------------------------------------
  // Behaviour events

  /// Generates the events before the first logged day, in time order, and records them.
  mutating func generateInitialHistory() -> [SyntheticEvent] {
    var random = SyntheticRandom(seed: config.seed, stream: 3)
    let spanMillis = Int(Int64(Self.initialHistoryDays) * Self.microsPerDay / 1_000)
    let firstMicros = startMicros - Int64(Self.initialHistoryDays) * Self.microsPerDay
    var events = [SyntheticEvent]()
    for user in 0..<world.userCount {
      let count = random.poisson(Self.initialEventMean * world.relativeActivity[user])
      for _ in 0..<min(count, 4 * config.maxSequenceLength) {
        let item = world.drawItem(user: user, random: &random)
        let offset = Int64(random.index(spanMillis)) * Self.microsPerMillisecond
        events.append(
          SyntheticEvent(
            timeMicros: firstMicros + offset, user: Int32(user), category: UInt16(item.category),
            brand: UInt16(item.brand)))
      }
    }
    Self.sortByTime(&events)
    for event in events { history.record(event) }
    return events
  }

  /// Draws one day's events, in time order (not yet recorded in the history).
  private func drawEvents(dayMicros: Int64, random: inout SyntheticRandom) -> [SyntheticEvent] {
    var events = [SyntheticEvent]()
    for user in 0..<world.userCount {
      let count = random.poisson(Self.dailyEventRate * world.relativeActivity[user])
      for _ in 0..<count {
        let item = world.drawItem(user: user, random: &random)
        events.append(
          SyntheticEvent(
            timeMicros: drawTime(dayMicros: dayMicros, random: &random), user: Int32(user),
            category: UInt16(item.category), brand: UInt16(item.brand)))
      }
    }
    Self.sortByTime(&events)
    return events
  }

  /// Draws a time of day: the hour from `hourShape`, then a uniform millisecond in the hour.
  private func drawTime(dayMicros: Int64, random: inout SyntheticRandom) -> Int64 {
    let hour = Int64(hourSampler.draw(&random))
    let millisecond = Int64(random.index(3_600_000))
    return dayMicros + hour * 3_600_000_000 + millisecond * Self.microsPerMillisecond
  }

  /// Sorts events by time, then user, so that the order does not depend on the sort algorithm.
  private static func sortByTime(_ events: inout [SyntheticEvent]) {
    events.sort { ($0.timeMicros, $0.user) < ($1.timeMicros, $1.user) }
  }

  // ---------------------------------------------------------------------------------------------
  // Impressions

  /// Generates day `index` (0-based). It hands the day's behaviour events (in time order) to
  /// `events` first, then the impressions in time order to `impressions`, in chunks of at most
  /// `chunkSize` records. Traffic is drawn hour by hour, so only one hour's arrival times and
  /// one chunk of records are in memory, whatever the daily volume. Days must be generated in order
  /// after `generateInitialHistory()`, because each day's histories build on the previous ones.
  mutating func generateDay(
    _ index: Int,
    events handleEvents: ([SyntheticEvent]) throws -> Void,
    impressions handleImpressions: ([ImpressionRecord]) throws -> Void
  ) rethrows {
    var random = SyntheticRandom(seed: config.seed, stream: 1_000 + UInt64(index))
    let dayMicros = startMicros + Int64(index) * Self.microsPerDay
    let date = CivilDate.text(ofEpochSeconds: dayMicros / 1_000_000)
    let weekday = CivilDate.isoWeekday(ofEpochSeconds: dayMicros / 1_000_000) - 1

    let events = drawEvents(dayMicros: dayMicros, random: &random)
    try handleEvents(events)
    let traffic =
      Double(config.impressionsPerDay) * Self.weekdayTraffic[weekday]
      * exp(Self.dailyTrafficNoise * random.normal())
    let shapeTotal = Self.hourShape.reduce(0, +)

    let context = DayContext(
      weekday: weekday, split: index >= config.days - config.testDays ? "test" : "train",
      requestPrefix: "syn-" + date.replacingOccurrences(of: "-", with: "") + "-")
    var chunk = [ImpressionRecord]()
    chunk.reserveCapacity(min(chunkSize, config.impressionsPerDay + 1))
    var served = 0
    var nextEvent = 0
    for hour in 0..<24 {
      // Arrivals form a Poisson process whose rate follows the hour-of-day shape.
      let count = random.poisson(traffic * Self.hourShape[hour] / shapeTotal)
      let hourMicros = dayMicros + Int64(hour) * 3_600_000_000
      var arrivals = (0..<count).map { _ in
        (
          timeMicros: hourMicros + Int64(random.index(3_600_000)) * Self.microsPerMillisecond,
          user: world.activity.draw(&random)
        )
      }
      arrivals.sort { ($0.timeMicros, $0.user) < ($1.timeMicros, $1.user) }

      for arrival in arrivals {
        // Only events strictly before the impression enter its history.
        while nextEvent < events.count && events[nextEvent].timeMicros < arrival.timeMicros {
          history.record(events[nextEvent])
          nextEvent += 1
        }
        served += 1
        chunk.append(
          impression(
            number: served, user: arrival.user, timeMicros: arrival.timeMicros,
            context: context, random: &random))
        if chunk.count == chunkSize {
          try handleImpressions(chunk)
          chunk.removeAll(keepingCapacity: true)
        }
      }
    }
    if !chunk.isEmpty {
      try handleImpressions(chunk)
    }
    while nextEvent < events.count {
      history.record(events[nextEvent])
      nextEvent += 1
    }
  }

  /// The parts of an impression that are the same for the whole day.
  private struct DayContext {
    /// Weekday, 0 = Monday.
    var weekday: Int
    var split: String
    var requestPrefix: String
  }

  /// Serves the `number`-th impression of the day and draws its click and cost.
  private func impression(
    number: Int, user: Int, timeMicros: Int64, context: DayContext,
    random: inout SyntheticRandom
  ) -> ImpressionRecord {
    let served = serve(
      user: user, timeMicros: timeMicros, weekday: context.weekday, random: &random)
    let campaign = SyntheticCampaigns.all[world.ads[served.adIndex].campaign]
    let cost = campaign.medianCostMicros * exp(campaign.costLogSigma * random.normal())
    return ImpressionRecord(
      dataset: SyntheticSchema.dataset,
      time: Self.date(micros: timeMicros),
      requestId: context.requestPrefix + SyntheticSchema.zeroPadded(number, width: 7),
      userId: world.userIds[user],
      adId: world.ads[served.adIndex].id,
      campaignId: campaign.id,
      split: context.split,
      cat: served.cat,
      seq: served.seq,
      click: random.bernoulli(served.probability) ? 1 : 0,
      costMicros: max(1, Int64(cost.rounded())),
      truePCTR: served.probability)
  }

  /// Picks an ad for a user and computes the features and click probability as served.
  private func serve(
    user: Int, timeMicros: Int64, weekday: Int, random: inout SyntheticRandom
  ) -> (adIndex: Int, cat: [String?], seq: [String?], probability: Double) {
    let adIndex = chooseAd(user: user, random: &random)
    let slot = random.index(SyntheticSchema.slots.count)
    let hour = Int((timeMicros % Self.microsPerDay) / 3_600_000_000)
    let cat = features(user: user, adIndex: adIndex, hour: hour, slot: slot, weekday: weekday)
    let probability = clickProbability(
      user: user, adIndex: adIndex, slot: slot, hour: hour, weekday: weekday)
    return (adIndex, cat, sequence(user: user), probability)
  }

  /// Returns the hidden model's click probability for an ad shown to a user now.
  func clickProbability(user: Int, adIndex: Int, slot: Int, hour: Int, weekday: Int) -> Double {
    let match = HiddenClickModel.interestMatch(
      ad: world.ads[adIndex], user: user, history: history, length: config.maxSequenceLength)
    return model.probability(
      world: world, user: user, adIndex: adIndex, slot: slot, hour: hour, weekday: weekday,
      interestMatch: match)
  }

  /// Chooses an ad: with probability `retargetShare` one in a category the user viewed lately,
  /// otherwise a campaign by traffic share and one of its ads uniformly.
  private func chooseAd(user: Int, random: inout SyntheticRandom) -> Int {
    let stored = history.count(user: user)
    if stored > 0 && random.bernoulli(Self.retargetShare) {
      let item = history.item(
        user: user, recency: random.index(min(stored, Self.retargetWindow)))
      let candidates = world.adsByCategory[item.category]
      if !candidates.isEmpty { return candidates[random.index(candidates.count)] }
    }
    let ads = world.adsByCampaign[world.campaignSampler.draw(&random)]
    return ads[random.index(ads.count)]
  }

  /// Returns cat_values in feature-spec order: user fields, ad fields, context fields.
  private func features(user: Int, adIndex: Int, hour: Int, slot: Int, weekday: Int) -> [String?] {
    var values = [String?]()
    values.reserveCapacity(16)
    for (field, definition) in SyntheticSchema.userFields.enumerated() {
      values.append(definition.values[world.profileValue(user: user, field: field)])
    }
    let ad = world.ads[adIndex]
    values.append(ad.id)
    values.append(SyntheticSchema.categories[ad.category])
    values.append(SyntheticSchema.brands[ad.brand])
    values.append(SyntheticCampaigns.all[ad.campaign].advertiser)
    values.append(SyntheticSchema.priceBands[ad.priceBand])
    values.append(SyntheticSchema.hours[hour])
    values.append(SyntheticSchema.slots[slot])
    values.append(SyntheticSchema.weekdays[weekday])
    return values
  }

  /// Returns seq_values: the latest items, most recent first, item-major (category, brand).
  private func sequence(user: Int) -> [String?] {
    let length = min(config.maxSequenceLength, history.count(user: user))
    var values = [String?]()
    values.reserveCapacity(2 * length)
    for k in 0..<length {
      let item = history.item(user: user, recency: k)
      values.append(SyntheticSchema.categories[item.category])
      values.append(SyntheticSchema.brands[item.brand])
    }
    return values
  }

  // ---------------------------------------------------------------------------------------------
  // Ad requests

  /// Generates the ad requests of the day after the log, each a user with distinct candidate ads.
  /// Call after the last day, because it uses the histories at the end of the log.
  /// NOTE: the rows are built in one array, so memory grows with requests x candidates.
  func generateAdRequests() -> [SyntheticAdRequest] {
    var random = SyntheticRandom(seed: config.seed, stream: 4)
    let dayMicros = startMicros + Int64(config.days) * Self.microsPerDay
    let date = CivilDate.text(ofEpochSeconds: dayMicros / 1_000_000)
    let weekday = CivilDate.isoWeekday(ofEpochSeconds: dayMicros / 1_000_000) - 1
    let requestPrefix = "syn-req-" + date.replacingOccurrences(of: "-", with: "") + "-"
    var slots = (0..<config.requests).map { _ in
      (
        timeMicros: drawTime(dayMicros: dayMicros, random: &random),
        user: world.activity.draw(&random)
      )
    }
    slots.sort { ($0.timeMicros, $0.user) < ($1.timeMicros, $1.user) }

    var rows = [SyntheticAdRequest]()
    rows.reserveCapacity(config.requests * config.candidatesPerRequest)
    for (number, request) in slots.enumerated() {
      let requestId = requestPrefix + SyntheticSchema.zeroPadded(number + 1, width: 6)
      let slot = random.index(SyntheticSchema.slots.count)
      let hour = Int((request.timeMicros % Self.microsPerDay) / 3_600_000_000)
      let seq = sequence(user: request.user)
      for adIndex in chooseCandidates(user: request.user, random: &random) {
        let ad = world.ads[adIndex]
        rows.append(
          SyntheticAdRequest(
            requestId: requestId, adId: ad.id,
            campaignId: SyntheticCampaigns.all[ad.campaign].id,
            userId: world.userIds[request.user], time: Self.date(micros: request.timeMicros),
            cat: features(
              user: request.user, adIndex: adIndex, hour: hour, slot: slot, weekday: weekday),
            seq: seq,
            truePCTR: clickProbability(
              user: request.user, adIndex: adIndex, slot: slot, hour: hour, weekday: weekday)))
      }
    }
    return rows
  }

  /// Chooses `candidatesPerRequest` distinct ads the way impressions choose theirs. After
  /// 8 x candidatesPerRequest draws it fills up with the lowest unused ad indexes, so it ends.
  private func chooseCandidates(user: Int, random: inout SyntheticRandom) -> [Int] {
    var chosen = [Int]()
    var seen = Set<Int>()
    var attempts = 0
    while chosen.count < config.candidatesPerRequest && attempts < 8 * config.candidatesPerRequest {
      let adIndex = chooseAd(user: user, random: &random)
      if seen.insert(adIndex).inserted { chosen.append(adIndex) }
      attempts += 1
    }
    var next = 0
    while chosen.count < config.candidatesPerRequest {
      if seen.insert(next).inserted { chosen.append(next) }
      next += 1
    }
    return chosen
  }

  /// Converts whole microseconds since 1970 to a Date. Generated times are whole milliseconds,
  /// which survive the Double inside Date and the round trip through timestamptz.
  static func date(micros: Int64) -> Date {
    Date(timeIntervalSince1970: Double(micros) / 1_000_000)
  }
}
