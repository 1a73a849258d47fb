// The buying policies a backtest compares on one day of logged impressions: the hindsight
// optimum and the simple baselines. The baselines walk the impressions in time order and pay the
// logged market price. None of them reads the database.

import Foundation

/// One logged impression as a backtest replays it.
struct ReplayImpression: Sendable {
  /// The index of the campaign in the backtest's campaign list.
  var campaign: Int
  var time: Date
  /// The logged market price, paid when the impression is won, in micros.
  var costMicros: Int64
  var pctr: Double
  var click: Bool
  /// pCTR x value per click of the campaign, in micros.
  var valueMicros: Double

  /// Value per micro of cost; infinite for a free impression.
  var valuePerCost: Double {
    costMicros > 0 ? valueMicros / Double(costMicros) : .infinity
  }
}

/// The impressions, value and spend a policy bought on one day.
struct DayPurchase: Sendable {
  var valueMicros = 0.0
  var clicks = 0
  var spendMicros: Int64 = 0
  /// The impressions bought, in time order.
  var bought: [ReplayImpression] = []

  mutating func buy(_ impression: ReplayImpression) {
    valueMicros += impression.valueMicros
    clicks += impression.click ? 1 : 0
    spendMicros += impression.costMicros
    bought.append(impression)
  }
}

enum BacktestPolicies {
  /// Returns the hindsight optimum's value and the value per cost of its last purchase.
  ///
  /// It knows every impression of the day in advance and buys them best-first by value per cost
  /// across all campaigns. At the cut it takes a fraction of one impression (the fractional
  /// knapsack bound), so no policy that pays whole prices can exceed it.
  static func hindsightOptimum(_ impressions: [ReplayImpression], budgetMicros: Int64) -> (
    valueMicros: Double, cutValuePerCost: Double
  ) {
    let order = impressions.sorted { $0.valuePerCost > $1.valuePerCost }
    var left = Double(budgetMicros)
    var value = 0.0
    var cut = Double.infinity
    for impression in order {
      let cost = Double(impression.costMicros)
      guard cost <= left else {
        if left > 0 {
          value += impression.valueMicros * left / cost
          cut = impression.valuePerCost
        }
        return (value, cut)
      }
      value += impression.valueMicros
      left -= cost
      cut = impression.valuePerCost
    }
    return (value, 0)
  }

  /// Buys in time order with a fixed budget per campaign and no threshold and no pacing: each
  /// campaign buys every impression until its budget cannot pay the next one.
  static func fixedSplit(_ impressions: [ReplayImpression], budgets: [Int64]) -> DayPurchase {
    var left = budgets
    var purchase = DayPurchase()
    for impression in impressions where impression.costMicros <= left[impression.campaign] {
      left[impression.campaign] -= impression.costMicros
      purchase.buy(impression)
    }
    return purchase
  }

  /// Splits `budgetMicros` over campaigns in proportion to `weights`, in whole micros that add
  /// up to the budget (leftover micros go to the first campaigns).
  static func split(_ budgetMicros: Int64, weights: [Double]) -> [Int64] {
    let total = weights.reduce(0, +)
    guard total > 0 else {
      return split(budgetMicros, weights: weights.map { _ in 1 })
    }
    var shares = weights.map { Int64((Double(budgetMicros) * $0 / total).rounded(.down)) }
    var leftover = budgetMicros - shares.reduce(0, +)
    var index = 0
    while leftover > 0 && !shares.isEmpty {
      shares[index % shares.count] += 1
      leftover -= 1
      index += 1
    }
    return shares
  }

  /// Buys in time order every impression whose value per cost reaches `threshold` while the
  /// day's budget can pay it. The threshold is never revised during the day.
  static func fixedThreshold(
    _ impressions: [ReplayImpression], threshold: Double, budgetMicros: Int64
  ) -> DayPurchase {
    var purchase = DayPurchase()
    for impression in impressions
    where impression.valuePerCost >= threshold
      && purchase.spendMicros + impression.costMicros <= budgetMicros
    {
      purchase.buy(impression)
    }
    return purchase
  }
}
