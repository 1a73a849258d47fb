// Campaign definitions as the allocator and the pacing planner use them, after validation.
// Parsing and validation live in CampaignFile; this file does no I/O and no checking.

import Foundation

/// A pacing mode: how a campaign's daily amount is spread over its active hours.
public enum PacingMode: String, Codable, Sendable, CaseIterable {
  /// Spend in proportion to the forecast traffic of each active hour.
  case even
  /// Spend more in the early active hours (see `PacingPlanner` for the multipliers).
  case frontLoaded = "front_loaded"
  /// Spend as soon as possible: fill each hour up to its traffic before the next.
  case asap
}

/// A campaign: budgets, value per click, priority, schedule and targeting.
///
/// Money is integer micros of the account currency. `priority` orders strict tiers: a campaign
/// with a larger `priority` is served up to its cap before any campaign with a smaller one gets
/// more than its minimum.
public struct Campaign: Sendable, Equatable {
  /// The campaign id: non-empty, letters, digits, `_`, `.` and `-` only.
  public var id: String
  public var name: String
  public var advertiser: String
  /// The data set whose traffic the campaign buys.
  public var dataset: String
  /// The value of one click to the advertiser, in micros.
  public var valuePerClickMicros: Int64
  public var dailyBudgetMicros: Int64
  /// The spend the allocator gives the campaign before any tier gets more than its minimums.
  public var minDailyMicros: Int64
  /// An optional daily ceiling below the daily budget.
  public var maxDailyMicros: Int64?
  /// The lifetime budget over the flight. The planning job applies it through
  /// ``limitedByLifetime(planDate:spentMicros:)`` with the spend logged so far.
  public var lifetimeBudgetMicros: Int64?
  public var priority: Int
  public var pacing: PacingMode
  /// The time zone whose local day is the campaign's plan day.
  public var timeZone: TimeZone
  /// Active local hours (0...23) by weekday (1 = Monday ... 7 = Sunday), or nil for all hours.
  /// A weekday missing from the map has no active hours.
  public var dayParting: [Int: Set<Int>]?
  /// The first local day of the flight as "YYYY-MM-DD", or nil for no start.
  public var flightStart: String?
  /// The last local day of the flight (inclusive) as "YYYY-MM-DD", or nil for no end.
  public var flightEnd: String?
  /// Allowed values by impression field name; an empty map targets all traffic.
  public var targeting: [String: [String]]
  /// The campaign status: "active" or "paused".
  public var status: String

  /// The daily spend limit: the daily budget, or the daily maximum when that is lower.
  public var capMicros: Int64 { min(dailyBudgetMicros, maxDailyMicros ?? dailyBudgetMicros) }

  /// Creates a campaign with the defaults of a campaign file for every optional field.
  public init(
    id: String,
    name: String,
    advertiser: String = "",
    dataset: String,
    valuePerClickMicros: Int64,
    dailyBudgetMicros: Int64,
    minDailyMicros: Int64 = 0,
    maxDailyMicros: Int64? = nil,
    lifetimeBudgetMicros: Int64? = nil,
    priority: Int = 0,
    pacing: PacingMode = .even,
    timeZone: TimeZone = .utc,
    dayParting: [Int: Set<Int>]? = nil,
    flightStart: String? = nil,
    flightEnd: String? = nil,
    targeting: [String: [String]] = [:],
    status: String = "active"
  ) {
    self.id = id
    self.name = name
    self.advertiser = advertiser
    self.dataset = dataset
    self.valuePerClickMicros = valuePerClickMicros
    self.dailyBudgetMicros = dailyBudgetMicros
    self.minDailyMicros = minDailyMicros
    self.maxDailyMicros = maxDailyMicros
    self.lifetimeBudgetMicros = lifetimeBudgetMicros
    self.priority = priority
    self.pacing = pacing
    self.timeZone = timeZone
    self.dayParting = dayParting
    self.flightStart = flightStart
    self.flightEnd = flightEnd
    self.targeting = targeting
    self.status = status
  }
}

extension TimeZone {
  /// The UTC time zone, the default of a campaign file without `time_zone`.
  @usableFromInline static let utc =
    TimeZone(identifier: "UTC") ?? TimeZone(secondsFromGMT: 0) ?? .current
}
