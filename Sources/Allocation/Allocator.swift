// The daily budget allocator: splits a total budget over campaigns by equalizing marginal value.
// It reads forecasts handed to it and never touches files, clocks or the database.

/// An allocator of a day's total budget over campaigns.
public enum Allocator {
  /// Allocates `totalBudgetMicros` over `campaigns` for the local day `planDate` ("YYYY-MM-DD").
  public static func allocate(
    campaigns: [Campaign], supply: [String: CampaignSupply], totalBudgetMicros: Int64,
    planDate: String
  ) throws(AllocationError) -> AllocationResult {
    AllocationResult(
      allocations: [], totalBudgetMicros: totalBudgetMicros, allocatedMicros: 0,
      sumOfCapsMicros: 0, absorbableMicros: 0)
  }
}
