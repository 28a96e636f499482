// Which wildcard filters (PROFILE.md "Wildcard watching") match a topic, without looking at the others: the
// filters are kept in a trie of segments, with `+` and `#` as children of their own, so matching one topic
// walks at most its segments times the `+` branches along them — the cost does not grow with the number
// of filters that do not match, or with the number of topics.
import { parseTopicPattern, type TopicPattern } from './topic-pattern.js';

interface Node<Id> {
  children: Map<string, Node<Id>>;
  /** Filters that end here exactly. */
  here: Set<Id>;
  /** Filters that end here with `#` (this node and everything below). */
  rest: Set<Id>;
}

function node<Id>(): Node<Id> {
  return { children: new Map(), here: new Set(), rest: new Set() };
}

export class TopicFilterIndex<Id> {
  private readonly root: Node<Id> = node();
  private readonly filters = new Map<Id, TopicPattern>();

  get size(): number {
    return this.filters.size;
  }

  /** Adds (or moves) filter `id`. Throws TopicPatternError for a malformed pattern. */
  add(id: Id, pattern: string | TopicPattern): void {
    const parsed = typeof pattern === 'string' ? parseTopicPattern(pattern) : pattern;
    this.remove(id);
    let at = this.root;
    const { segments } = parsed;
    for (let i = 0; i < segments.length; i++) {
      if (segments[i] === '#') {
        at.rest.add(id);
        this.filters.set(id, parsed);
        return;
      }
      let next = at.children.get(segments[i]);
      if (!next) {
        next = node();
        at.children.set(segments[i], next);
      }
      at = next;
    }
    at.here.add(id);
    this.filters.set(id, parsed);
  }

  remove(id: Id): boolean {
    const pattern = this.filters.get(id);
    if (!pattern) return false;
    this.filters.delete(id);
    const path: [Node<Id>, string][] = [];
    let at = this.root;
    for (const segment of pattern.segments) {
      if (segment === '#') break;
      const next = at.children.get(segment)!;
      path.push([at, segment]);
      at = next;
    }
    if (pattern.segments[pattern.segments.length - 1] === '#') at.rest.delete(id);
    else at.here.delete(id);
    // Prune branches nothing ends in any more.
    for (let i = path.length - 1; i >= 0; i--) {
      const [parent, segment] = path[i];
      const child = parent.children.get(segment)!;
      if (child.children.size > 0 || child.here.size > 0 || child.rest.size > 0) break;
      parent.children.delete(segment);
    }
    return true;
  }

  /** Ids of the filters that cover `topic` (normalised as the focus keeps it). */
  match(topic: string): Set<Id> {
    const parts = topic.normalize('NFC').split('/');
    const out = new Set<Id>();
    const visit = (at: Node<Id>, depth: number) => {
      // `#` covers the node it hangs on too (`plant-7/#` matches `plant-7`).
      for (const id of at.rest) out.add(id);
      if (depth === parts.length) {
        for (const id of at.here) out.add(id);
        return;
      }
      const exact = at.children.get(parts[depth]);
      if (exact) visit(exact, depth + 1);
      const plus = at.children.get('+');
      if (plus && plus !== exact) visit(plus, depth + 1);
    };
    visit(this.root, 0);
    return out;
  }
}
