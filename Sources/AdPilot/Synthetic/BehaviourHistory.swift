// Each user's most recent behaviour items, in fixed-size ring buffers. Memory is users x
// maxSequenceLength items, whatever the number of events or impressions generated.

/// The last `capacity` behaviour items of every user, with their times.
struct BehaviourHistory: Sendable {
  let capacity: Int
  private var categories: [UInt16]
  private var brands: [UInt16]
  private var times: [Int64]
  /// Items stored per user (at most `capacity`).
  private var counts: [Int32]
  /// Slot of each user's next write. The most recent item is just before it.
  private var heads: [Int32]

  init(users: Int, capacity: Int) {
    self.capacity = capacity
    categories = Array(repeating: 0, count: users * capacity)
    brands = Array(repeating: 0, count: users * capacity)
    times = Array(repeating: 0, count: users * capacity)
    counts = Array(repeating: 0, count: users)
    heads = Array(repeating: 0, count: users)
  }

  /// Appends an event. Events of one user must arrive in time order.
  mutating func record(_ event: SyntheticEvent) {
    let user = Int(event.user)
    let slot = user * capacity + Int(heads[user])
    categories[slot] = event.category
    brands[slot] = event.brand
    times[slot] = event.timeMicros
    heads[user] = (heads[user] + 1) % Int32(capacity)
    counts[user] = min(counts[user] + 1, Int32(capacity))
  }

  /// Returns the number of stored items of a user.
  func count(user: Int) -> Int { Int(counts[user]) }

  /// Returns the user's k-th most recent item (k = 0 is the latest), k < count(user:).
  func item(user: Int, recency k: Int) -> (category: Int, brand: Int, timeMicros: Int64) {
    var position = Int(heads[user]) - 1 - k
    if position < 0 { position += capacity }
    let slot = user * capacity + position
    return (Int(categories[slot]), Int(brands[slot]), times[slot])
  }
}

/// One behaviour event: a user viewed an item of a category and brand at a time.
struct SyntheticEvent: Sendable, Equatable {
  /// Microseconds since 1970-01-01 UTC.
  var timeMicros: Int64
  var user: Int32
  var category: UInt16
  var brand: UInt16
}
