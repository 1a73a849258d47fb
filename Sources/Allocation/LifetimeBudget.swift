// Turns a campaign's lifetime budget into a limit for one plan day: what is left of it, spread
// evenly over the flight days that remain. It reads no clock and no database, so the caller
// passes the spend so far.

extension Campaign {
  /// Returns the share of the lifetime budget for `planDate` ("YYYY-MM-DD"), or nil without a
  /// lifetime budget.
  ///
  /// What is left after `spentMicros` is divided evenly over the days from `planDate` to
  /// `flightEnd` inclusive, rounded down, so the last day of the flight gets all that is left.
  /// Without a flight end, the whole remainder is available on the plan day. After the flight
  /// the share is 0.
  /// - Throws: `AllocationError` for an invalid plan date or flight end, or a negative spend.
  public func lifetimeShare(planDate: String, spentMicros: Int64) throws(AllocationError)
    -> Int64?
  {
    guard let lifetime = lifetimeBudgetMicros else { return nil }
    guard spentMicros >= 0 else {
      throw AllocationError(
        message: "campaign '\(id)': lifetime spend so far must be >= 0, got \(spentMicros)",
        campaignIds: [id], fix: "pass the campaign's logged spend since its flight start")
    }
    guard let date = LocalDate(planDate) else {
      throw AllocationError(
        message: "invalid plan date '\(planDate)'", campaignIds: [],
        fix: "give the date as YYYY-MM-DD")
    }
    let remaining = max(0, lifetime - spentMicros)
    guard let endText = flightEnd else { return remaining }
    guard let end = LocalDate(endText) else {
      throw AllocationError(
        message: "campaign '\(id)': invalid flight_end '\(endText)'", campaignIds: [id],
        fix: "give flight_end as YYYY-MM-DD")
    }
    let days = end.daysSinceEpoch - date.daysSinceEpoch + 1
    guard days >= 1 else { return 0 }
    return remaining / Int64(days)
  }

  /// Returns the campaign with its maximum daily spend lowered to its lifetime share for
  /// `planDate` and its minimum lowered to match. Without a lifetime budget it is unchanged.
  /// - Throws: `AllocationError` as ``lifetimeShare(planDate:spentMicros:)`` does.
  public func limitedByLifetime(planDate: String, spentMicros: Int64) throws(AllocationError)
    -> Campaign
  {
    guard let share = try lifetimeShare(planDate: planDate, spentMicros: spentMicros) else {
      return self
    }
    var copy = self
    copy.maxDailyMicros = min(maxDailyMicros ?? share, share)
    copy.minDailyMicros = min(minDailyMicros, share)
    return copy
  }

  /// Returns whether the campaign may spend on the local day `planDate` ("YYYY-MM-DD"): its
  /// status is active and the day falls within its flight. An unreadable date gives false.
  public func isActive(on planDate: String) -> Bool {
    guard let date = LocalDate(planDate) else { return false }
    return status == "active" && Allocator.isInFlight(self, on: date)
  }
}
