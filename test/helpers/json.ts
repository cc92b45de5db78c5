// Tests read parsed JSON of many shapes field by field, and the fakes parse provider payloads the same way.
// Typing each shape would restate the schemas the tests exist to check, so test code has one alias for it:
// the one place `any` is allowed (production code has none).
// biome-ignore lint/suspicious/noExplicitAny: parsed JSON in tests and fakes, asserted field by field
export type Json = any;
