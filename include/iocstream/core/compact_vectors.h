// Two vectors shaped for DossierState, which the dossier cache holds by the hundred thousand:
// they took the cache entry from jemalloc's 448-byte class to its 384-byte one, and with it the
// heap blocks most dossiers never need (a 1M-dossier replay's pipeline thread 4% faster;
// smaller still gained nothing measurable: docs/performance-history.md, sessions 46 and 47).
//
// - RareVector<T>: 8 bytes, a pointer to a std::vector allocated by the first element added
//   and released when the vector empties. For what most dossiers never hold (pauses).
// - InlineU64s<N>: up to N uint64_t held inline, more on the heap, in 8 + 8 * N bytes
//   (boost::container::small_vector takes 24 + 8 * N). For the applied event id hashes.
//
// Both read like std::vector (iterators are pointers) for the operations the rules, the codec
// and the tests use, and compare equal element by element. Plain values: thread-compatible.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <vector>

namespace iocstream {

template <class T>
class RareVector {
 public:
  using value_type = T;
  using iterator = T*;
  using const_iterator = const T*;
  using size_type = size_t;

  RareVector() noexcept = default;
  RareVector(std::initializer_list<T> values) { assign(values.begin(), values.end()); }
  RareVector(const std::vector<T>& values) { assign(values.begin(), values.end()); }  // NOLINT
  RareVector(const RareVector& other) { assign(other.begin(), other.end()); }
  RareVector(RareVector&&) noexcept = default;
  RareVector& operator=(const RareVector& other) {
    if (this != &other) assign(other.begin(), other.end());
    return *this;
  }
  RareVector& operator=(RareVector&&) noexcept = default;
  RareVector& operator=(std::initializer_list<T> values) {
    assign(values.begin(), values.end());
    return *this;
  }
  ~RareVector() = default;

  // The elements as a std::vector (an empty one, shared, while none is held).
  operator const std::vector<T>&() const noexcept {  // NOLINT: reads as the vector it was
    return v_ ? *v_ : Empty();
  }

  [[nodiscard]] size_t size() const noexcept { return v_ ? v_->size() : 0; }
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }
  // Bytes held apart from the 8 of the pointer: the vector and its elements' buffer.
  [[nodiscard]] size_t HeapBytes() const noexcept {
    return v_ ? sizeof(std::vector<T>) + v_->capacity() * sizeof(T) : 0;
  }
  [[nodiscard]] T* begin() noexcept { return v_ ? v_->data() : nullptr; }
  [[nodiscard]] T* end() noexcept { return v_ ? v_->data() + v_->size() : nullptr; }
  [[nodiscard]] const T* begin() const noexcept { return v_ ? v_->data() : nullptr; }
  [[nodiscard]] const T* end() const noexcept { return v_ ? v_->data() + v_->size() : nullptr; }
  [[nodiscard]] T& operator[](size_t i) noexcept { return (*v_)[i]; }
  [[nodiscard]] const T& operator[](size_t i) const noexcept { return (*v_)[i]; }
  [[nodiscard]] T& back() noexcept { return v_->back(); }
  [[nodiscard]] const T& back() const noexcept { return v_->back(); }
  [[nodiscard]] T& front() noexcept { return v_->front(); }
  [[nodiscard]] const T& front() const noexcept { return v_->front(); }

  void reserve(size_t n) {
    if (n > 0) Ensure().reserve(n);
  }
  void push_back(const T& value) { Ensure().push_back(value); }
  void pop_back() noexcept {
    v_->pop_back();
    if (v_->empty()) v_.reset();
  }
  // Inserts before `pos` (an iterator of this vector, or nullptr while it is empty).
  T* insert(const T* pos, const T& value) {
    const auto index = static_cast<ptrdiff_t>(pos - begin());
    std::vector<T>& v = Ensure();
    return &*v.insert(v.begin() + index, value);
  }
  template <class It>
  void assign(It first, It last) {
    if (first == last) {
      v_.reset();
      return;
    }
    Ensure().assign(first, last);
  }
  void clear() noexcept { v_.reset(); }

  friend bool operator==(const RareVector& a, const RareVector& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }
  friend bool operator==(const RareVector& a, const std::vector<T>& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }

 private:
  static const std::vector<T>& Empty() noexcept {
    static const std::vector<T> empty;
    return empty;
  }
  std::vector<T>& Ensure() {
    if (!v_) v_ = std::make_unique<std::vector<T>>();
    return *v_;
  }
  std::unique_ptr<std::vector<T>> v_;
};

template <size_t N>
class InlineU64s {
  static_assert(N >= 1 && N <= 0xffff'ffffU);

 public:
  using value_type = uint64_t;
  using iterator = uint64_t*;
  using const_iterator = const uint64_t*;
  using size_type = size_t;

  InlineU64s() noexcept {}  // NOLINT: user-provided, so that a const state needs no initializer
  InlineU64s(std::initializer_list<uint64_t> values) { assign(values.begin(), values.end()); }
  InlineU64s(const InlineU64s& other) { assign(other.begin(), other.end()); }
  InlineU64s(InlineU64s&& other) noexcept { MoveFrom(other); }
  InlineU64s& operator=(const InlineU64s& other) {
    if (this != &other) assign(other.begin(), other.end());
    return *this;
  }
  InlineU64s& operator=(InlineU64s&& other) noexcept {
    if (this != &other) {
      Release();
      MoveFrom(other);
    }
    return *this;
  }
  InlineU64s& operator=(std::initializer_list<uint64_t> values) {
    assign(values.begin(), values.end());
    return *this;
  }
  ~InlineU64s() { Release(); }

  [[nodiscard]] size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  // N while held inline; more once on the heap.
  [[nodiscard]] size_t capacity() const noexcept { return capacity_; }
  // Bytes held apart from the object: the heap block once past N, else none.
  [[nodiscard]] size_t HeapBytes() const noexcept {
    return OnHeap() ? capacity_ * sizeof(uint64_t) : 0;
  }
  [[nodiscard]] uint64_t* data() noexcept { return OnHeap() ? heap_ : inline_; }
  [[nodiscard]] const uint64_t* data() const noexcept { return OnHeap() ? heap_ : inline_; }
  [[nodiscard]] uint64_t* begin() noexcept { return data(); }
  [[nodiscard]] uint64_t* end() noexcept { return data() + size_; }
  [[nodiscard]] const uint64_t* begin() const noexcept { return data(); }
  [[nodiscard]] const uint64_t* end() const noexcept { return data() + size_; }
  [[nodiscard]] uint64_t operator[](size_t i) const noexcept { return data()[i]; }

  void reserve(size_t n) {
    if (n > capacity_) Grow(n);
  }
  void push_back(uint64_t value) {
    if (size_ == capacity_) Grow(size_t{capacity_} * 2);
    data()[size_++] = value;
  }
  // Removes the element at `pos`, moving the later ones down.
  uint64_t* erase(const uint64_t* pos) noexcept {
    uint64_t* d = data();
    const auto index = static_cast<size_t>(pos - d);
    assert(index < size_);
    std::memmove(d + index, d + index + 1, (size_ - index - 1) * sizeof(uint64_t));
    --size_;
    return d + index;
  }
  // Sets the size to `n`, new elements 0.
  void resize(size_t n) {
    reserve(n);
    if (n > size_) std::fill(data() + size_, data() + n, uint64_t{0});
    size_ = static_cast<uint32_t>(n);
  }
  template <class It>
  void assign(It first, It last) {
    size_ = 0;
    reserve(static_cast<size_t>(std::distance(first, last)));
    for (; first != last; ++first) data()[size_++] = *first;
  }
  void clear() noexcept { size_ = 0; }

  friend bool operator==(const InlineU64s& a, const InlineU64s& b) noexcept {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }

 private:
  [[nodiscard]] bool OnHeap() const noexcept { return capacity_ > N; }
  void Grow(size_t n) {
    auto* grown = new uint64_t[n];
    std::copy(begin(), end(), grown);
    Release();
    heap_ = grown;
    capacity_ = static_cast<uint32_t>(n);
  }
  void Release() noexcept {
    if (OnHeap()) delete[] heap_;
    capacity_ = N;
  }
  void MoveFrom(InlineU64s& other) noexcept {
    size_ = other.size_;
    capacity_ = other.capacity_;
    if (other.OnHeap()) {
      heap_ = other.heap_;
    } else {
      std::copy(other.inline_, other.inline_ + other.size_, inline_);
    }
    other.size_ = 0;
    other.capacity_ = N;
  }

  uint32_t size_ = 0;
  uint32_t capacity_ = N;
  union {
    uint64_t inline_[N];
    uint64_t* heap_;
  };
};

}  // namespace iocstream
