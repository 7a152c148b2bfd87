// Jest test sequencer for mutation runs (see stryker.config.mjs). Stryker runs each mutant with a
// test name pattern listing the tests that covered it, but Jest would still import every test file to
// learn its test names, which costs seconds per mutant. This sequencer keeps only the files whose
// top-level `describe` title begins one of the names in the pattern. It only ever drops a file when it
// is sure: a file whose titles it cannot read, and any run without such a pattern, keeps every file.
// Files that need no local chain run first, so that a mutant they kill is killed in well under a second
// (see mutation-environment.cjs: the rest of a killed mutant's tests are skipped).
import { readFileSync } from "node:fs";

/** Escape as Stryker does when it builds the pattern, so titles compare with its text. */
const escapeRegExp = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

const TITLE = /^describe\(\s*(?:"((?:[^"\\\n]|\\.)*)"|'((?:[^'\\\n]|\\.)*)'|`([^`$\\]*)`)/gm;

/** Whether a test file starts a local chain (slow: seconds of setup per file). */
const startsChain = (source) => /startProviderFixture|startLocalChain/.test(source);

/** Top-level describe titles of a test file, or undefined when a describe has a title that is not a plain literal. */
function describeTitles(source) {
  const all = source.match(/^describe\(/gm)?.length ?? 0;
  const titles = [...source.matchAll(TITLE)].map((m) => (m[1] ?? m[2] ?? m[3]).replace(/\\(.)/g, "$1"));
  return all > 0 && titles.length === all ? titles : undefined;
}

export default class MutationSequencer {
  constructor({ globalConfig }) {
    this.pattern = globalConfig.testNamePattern;
  }

  sort(tests) {
    const files = tests.map((test) => {
      const source = readFileSync(test.path, "utf8");
      return { test, slow: startsChain(source), titles: describeTitles(source) };
    });
    files.sort((a, b) => Number(a.slow) - Number(b.slow) || (a.test.path < b.test.path ? -1 : a.test.path > b.test.path ? 1 : 0));
    const pattern = this.pattern;
    // Stryker's pattern is `(name)|(name)|...` with each name escaped.
    const selected =
      typeof pattern !== "string" || !pattern.startsWith("(")
        ? files
        : files.filter((f) => f.titles === undefined || f.titles.some((t) => pattern.includes(`(${escapeRegExp(`${t} `)}`)));
    return selected.map((f) => f.test);
  }

  allFailedTests(tests) {
    return tests;
  }

  shard(tests) {
    return tests;
  }

  cacheResults() {}
}
