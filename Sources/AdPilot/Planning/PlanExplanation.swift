// Reads the current plan of a day back from adpilot.allocations and explains each campaign's
// amount in a campaign manager's words: rank, expected value, marginal value at the cut and the
// limit that decided it. It only reads; planning happens in AllocationPipeline.

import Allocation
import Foundation
import Postgres

/// One stored allocation row of a plan, as `adpilot explain` reads it.
public struct StoredAllocation: Sendable, Equatable {
  public var campaignId: String
  public var rank: Int
  public var amountMicros: Int64
  public var capMicros: Int64
  public var minimumMicros: Int64
  public var expectedValueMicros: Double
  public var expectedClicks: Double
  /// The value per micro of the next micro the campaign would spend.
  public var marginalValue: Double
  public var binding: Binding
  /// The campaign's daily cap (its daily budget, or its max daily amount when lower), or nil
  /// when the campaign is no longer in `adpilot.campaigns`. A plan's cap below it was lowered by
  /// the campaign's lifetime budget.
  public var dailyCapMicros: Int64? = nil
  /// The campaign's priority tier in the plan, or nil for a campaign that the plan stored none
  /// for and that `adpilot.campaigns` no longer has.
  public var priority: Int? = nil
}

/// The current plan of a day with the allocations that explain it.
public struct PlanExplanation: Sendable {
  public var runId: String
  public var dataset: String
  public var planDate: String
  public var totalBudgetMicros: Int64
  public var allocatedMicros: Int64
  /// Allocations by rank, then campaign id.
  public var allocations: [StoredAllocation]

  /// The marginal value at the portfolio's cut: the best value per micro that a budget-bound
  /// campaign of `cutPriority` left unbought, or nil when no campaign was stopped by the budget.
  /// It covers every campaign of the plan, also when `allocations` holds only one.
  public var cutValue: Double?

  /// The priority tier in which the budget ran out: the highest priority of a budget-bound
  /// campaign. Lower tiers get nothing beyond their minimums, whatever their next unit returns.
  /// It is nil when no campaign was stopped by the budget or no such campaign has a priority.
  public var cutPriority: Int?

  /// Loads the current plan of `dataset` on `date`, for one campaign or all of them.
  public static func load(
    _ connection: Connection, dataset: String, date: String, campaignId: String? = nil
  ) throws -> PlanExplanation {
    _ = try parsePlanDate(date)
    guard
      let run = try connection.query(
        """
        SELECT id::text, total_budget_micros, allocated_micros
        FROM adpilot.plan_runs
        WHERE dataset = $1 AND plan_date = $2::date AND kind = 'plan' AND status = 'current'
        """, [.text(dataset), .date(date)]
      ).first
    else {
      throw PipelineError(
        "data set '\(dataset)' has no current plan for \(date); run `adpilot allocate "
          + "--dataset \(dataset) --date \(date)` first")
    }
    let runId = try run.string(0)
    // A minimum never exceeds the cap the plan used, which a lifetime budget may have lowered.
    // Rows written before allocations stored their minimum and priority read adpilot.campaigns.
    let rows = try connection.query(
      """
      SELECT a.campaign_id, a.rank, a.amount_micros, a.cap_micros,
             least(coalesce(a.minimum_micros, c.min_daily_micros, 0), a.cap_micros),
             a.expected_value_micros, a.expected_clicks,
             a.marginal_value, a.binding,
             least(c.daily_budget_micros, coalesce(c.max_daily_micros, c.daily_budget_micros)),
             coalesce(a.priority, c.priority)
      FROM adpilot.allocations AS a
          LEFT JOIN adpilot.campaigns AS c ON c.id = a.campaign_id
      WHERE a.run_id = $1::uuid
      ORDER BY a.rank, a.campaign_id
      """, [.uuid(runId)])
    if let campaignId, try !rows.contains(where: { try $0.string(0) == campaignId }) {
      throw PipelineError(
        "campaign '\(campaignId)' is not in the plan \(runId) of '\(dataset)' for \(date); "
          + "run `adpilot explain` without --campaign to list the planned campaigns")
    }
    let allocations = try rows.map { row in
      let bindingText = try row.string(8)
      guard let binding = Binding(rawValue: bindingText) else {
        throw PipelineError(
          "plan \(runId): campaign '\(try row.string(0))' has an unknown binding "
            + "'\(bindingText)'; re-run `adpilot allocate` with this version")
      }
      return StoredAllocation(
        campaignId: try row.string(0), rank: Int(try row.int64(1)),
        amountMicros: try row.int64(2), capMicros: try row.int64(3),
        minimumMicros: try row.int64(4), expectedValueMicros: try row.double(5),
        expectedClicks: try row.double(6), marginalValue: try row.double(7), binding: binding,
        dailyCapMicros: try row.isNull(9) ? nil : row.int64(9),
        priority: try row.isNull(10) ? nil : Int(row.int64(10)))
    }
    // Tiers are filled in turn, so the budget ran out in the highest tier with a budget-bound
    // campaign, and only that tier's campaigns were compared at the cut.
    let budgetBound = allocations.filter { $0.binding == .budget }
    let cutPriority = budgetBound.compactMap(\.priority).max()
    let cut = budgetBound.filter { cutPriority == nil || $0.priority == cutPriority }
      .map(\.marginalValue).max()
    return PlanExplanation(
      runId: runId, dataset: dataset, planDate: date, totalBudgetMicros: try run.int64(1),
      allocatedMicros: try run.int64(2),
      allocations: allocations.filter { campaignId == nil || $0.campaignId == campaignId },
      cutValue: cut, cutPriority: cutPriority)
  }

  /// Returns whether the budget ran out in a tier above the campaign's, so that the campaign got
  /// no more than its minimum however much its next unit returns.
  func isBelowCutTier(_ allocation: StoredAllocation) -> Bool {
    guard let cutPriority, let priority = allocation.priority else { return false }
    return priority < cutPriority
  }

  /// Returns the reason for one campaign's amount as a sentence.
  public func reason(for allocation: StoredAllocation) -> String {
    let marginal = String(format: "%.3f", allocation.marginalValue)
    switch allocation.binding {
    case .cap:
      if let daily = allocation.dailyCapMicros, allocation.capMicros < daily {
        return "capped: it reached the part of its lifetime budget left for this day, below its "
          + "daily cap, so more budget would not raise its amount"
      }
      return "capped: it reached its daily cap, so more budget would not raise its amount"
    case .minimum where isBelowCutTier(allocation):
      return "minimum: it got its guaranteed minimum and no more, because campaigns with a "
        + "higher priority used the rest of the budget first"
    case .minimum:
      return "minimum: it got its guaranteed minimum and no more, because its next impressions "
        + "return \(marginal) per unit spent, less than the budget earned elsewhere"
    case .traffic:
      let short =
        allocation.amountMicros < allocation.minimumMicros
        ? "; that is below its minimum, which the forecast traffic cannot absorb" : ""
      return "traffic: it buys all the traffic forecast for it, so more budget would find "
        + "nothing more to buy" + short
    case .budget where isBelowCutTier(allocation):
      return "priority: campaigns with a higher priority used the budget first; its next "
        + "impressions would return \(marginal) per unit spent"
    case .budget:
      return "budget: the total budget ran out first; its next impressions would return "
        + "\(marginal) per unit spent"
    case .noTraffic:
      return "no traffic: the forecast has no paid impressions for it on this day"
    case .dayParting:
      return "day-parting: its schedule has no active hour on this day"
    case .inactive:
      return "inactive: it is paused or this day is outside its flight dates"
    case .noLocalDay:
      return "no local day: its time zone skipped this date, so it has no hour to spend in"
    }
  }
}
