import Foundation
import Testing

@testable import Allocation

@Test func placeholderCompiles() {
  #expect(Campaign(id: "a", name: "a", dataset: "d", valuePerClickMicros: 1, dailyBudgetMicros: 5).capMicros == 5)
}
