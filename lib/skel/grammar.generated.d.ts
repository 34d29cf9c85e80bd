/** Types of the peggy parser generated from skel.peggy (grammar.generated.js). */
export interface PeggyPosition {
  offset: number;
  line: number;
  column: number;
}
export interface PeggyLocation {
  start: PeggyPosition;
  end: PeggyPosition;
}
export declare class SyntaxError extends Error {
  location: PeggyLocation;
  expected: unknown;
  found: string | null;
}
export declare function parse(input: string, options?: { startRule?: string }): unknown;
export declare const StartRules: string[];
