import Foundation
import Testing

@testable import CTR

@Test func outputBiasShiftMatchesHandComputedOdds() throws {
  // Two rows at 0.5 summing to 1.5 clicks need odds of 3 each: the shift is ln 3.
  let even = try #require(OutputBias.shift(probabilities: [0.5, 0.5], clicks: 1.5))
  #expect(abs(even - log(3)) < 1e-9)

  // Doubling the odds of 0.2, 0.5 and 0.8 gives 1/3, 2/3 and 8/9, which sum to 17/9.
  let doubled = try #require(OutputBias.shift(probabilities: [0.2, 0.5, 0.8], clicks: 17 / 9))
  #expect(abs(doubled - log(2)) < 1e-6)

  // Rows at exactly 0 and 1 stay there, and the row at 0.5 already makes the sum.
  let fixed = try #require(OutputBias.shift(probabilities: [0, 1, 0.5], clicks: 1.5))
  #expect(abs(fixed) < 1e-12)
}

@Test func outputBiasShiftIsNilWithoutAFiniteAnswer() {
  // No clicks, or every row a click, needs an infinite shift.
  #expect(OutputBias.shift(probabilities: [0.1, 0.2], clicks: 0) == nil)
  #expect(OutputBias.shift(probabilities: [0.1, 0.2], clicks: 2) == nil)
  // Rows at 1 already exceed one click, and a row at 0 can never add the second.
  #expect(OutputBias.shift(probabilities: [1, 1], clicks: 1) == nil)
  #expect(OutputBias.shift(probabilities: [0, 0.5], clicks: 1) == nil)
}
