/**
 * The Lua scripts of the Redis slot store (issue 12). Each one is a single
 * atomic decision over keys of one hash slot (see redis-keys.ts), run with
 * EVALSHA; the SHA-1 of each is computed here, so a script is loaded the
 * first time EVALSHA answers NOSCRIPT (a restarted Redis, SCRIPT FLUSH).
 *
 * Liveness. A user's book lives in one slot and the leases in another, so in
 * Redis Cluster a user script cannot read the leases. The caller passes a
 * snapshot of the registry instead (`maxIncarnation`, and the incarnations
 * whose lease was unexpired when it was read, as a comma-separated list).
 * An entry is dead when its incarnation is at most `maxIncarnation` and not in
 * that list. Death is permanent (renew never revives an expired lease), so
 * purging an entry the snapshot calls dead is always safe; an incarnation
 * newer than the snapshot is above `maxIncarnation`, so it is never purged; an
 * incarnation that died after the snapshot still counts until the next one
 * (at most one renewal period): the book may count too many, never too few.
 *
 * Times are Redis's own TIME in epoch ms, so the nodes' clocks never meet.
 */
import { createHash } from 'node:crypto';

export interface Script {
  readonly name: string;
  /**
   * Which of the store's operations runs it, in the words of an error's message: a script
   * that fails (a rule missing from a least-privilege ACL: `NOPERM`, or a command denied
   * inside it) is named with it, so that an operator knows which operation needs the rule.
   */
  readonly operation: string;
  readonly body: string;
  readonly sha: string;
}

const script = (name: string, operation: string, body: string): Script => ({
  name,
  operation,
  body,
  sha: createHash('sha1').update(body).digest('hex'),
});

/** Redis TIME in epoch ms, and the liveness test of the snapshot in ARGV[first], ARGV[first + 1]. */
const prelude = `
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function snapshot(first)
  local maxInc = tonumber(ARGV[first])
  local live = {}
  for s in string.gmatch(ARGV[first + 1], '%d+') do live[tonumber(s)] = true end
  return function(inc) return inc <= maxInc and not live[inc] end
end
-- An entry: '<incarnation>|<admittedAt>|<idleSince>|<nodeId>', then '|<instance>' when it holds
-- its client instance ('<id>.<attemptAt>', see admit). Node ids hold no '|'.
local function decode(value)
  local inc, admitted, since, node, rest = string.match(value, '^(%d+)|(%d+)|([es]?%d*)|([^|]*)(.*)$')
  return tonumber(inc), tonumber(admitted), since, node, rest and string.sub(rest, 2) or ''
end
-- The one writer of entries: every rewrite passes the instance it read, or the entry loses it
-- (and with it the next reconnect's supersede).
local function encode(inc, admitted, since, node, instance)
  local value = inc .. '|' .. admitted .. '|' .. since .. '|' .. node
  if instance ~= nil and instance ~= '' then value = value .. '|' .. instance end
  return value
end
-- An instance '<id>.<attemptAt>' as its id and attempt (nil for '').
local function instanceOf(instance)
  local iid, at = string.match(instance, '^(.*)%.(%d+)$')
  return iid, tonumber(at)
end
-- Marked evicted: 'e<now>' (the eviction rule at T, an idle one) or 's<now>' (superseded by a
-- reconnect of its client instance). Both leave alike; the mark keeps the cause for its order.
local function isEvicting(since)
  local b = string.byte(since, 1)
  return b == 101 or b == 115
end
local function causeOf(since) return string.byte(since, 1) == 115 and 'superseded' or 'idle' end
-- Whether this server is the one the caller last renewed on: KEYS[k] (when passed) holds
-- the run_id of the server the renewals last ran on here, the caller passes the one it saw.
local function otherServer(k, expected)
  return KEYS[k] ~= nil and expected ~= '' and redis.call('GET', KEYS[k]) ~= expected
end
-- Whether inc is one of the comma-separated incarnations in list (a process's own).
local function listed(list, inc)
  for s in string.gmatch(list, '%d+') do
    if tonumber(s) == inc then return true end
  end
  return false
end
-- Lists in out an order: connection id, node, incarnation, cause ('idle' or 'superseded').
local function order(out, id, node, inc, cause)
  out[#out + 1] = id
  out[#out + 1] = node
  out[#out + 1] = tostring(inc)
  out[#out + 1] = cause
end
-- Lists again in out, as orders, the entries marked evicted earlier ({id, node, incarnation,
-- idleSince} each, the mark telling the cause): their orders may have been lost (admit's and
-- setIdle's answers).
local function orderAgain(out, evicting)
  for _, entry in ipairs(evicting) do order(out, entry[1], entry[2], entry[3], causeOf(entry[4])) end
  return out
end
-- The local rule's evictions (machines/eviction.ts), admit's and setIdle's: while count (the
-- entries not marked evicted) is at or above evictAt, or count plus leaving (the entries marked
-- evicted earlier, not released yet: admit's) is above limit, marks idle entries evicted
-- (idleSince 'e<now>') longest idle first (ties by id), each listed in out as an order
-- (connection id, node, incarnation, 'idle'). idle holds {id, idleSince, incarnation, node,
-- admittedAt, instance} each. Returns the count left.
local function evictIdle(key, idle, count, evictAt, now, out, leaving, limit)
  table.sort(idle, function(a, b)
    if a[2] ~= b[2] then return a[2] < b[2] end
    return a[1] < b[1]
  end)
  for _, victim in ipairs(idle) do
    if count < evictAt and (limit == nil or count + leaving <= limit) then break end
    redis.call('HSET', key, victim[1], encode(victim[3], victim[5], 'e' .. now, victim[4], victim[6]))
    order(out, victim[1], victim[4], victim[3], 'idle')
    count = count - 1
  end
  return count
end
`;

/**
 * KEYS[1] the user's book, and KEYS[2] the registry's server key (a single Redis or a
 * Sentinel primary only: in a Redis Cluster it lives in another slot). ARGV: connectionId,
 * incarnation, nodeId, limit, evictAt, deadline (Redis ms, 0 = none), maxIncarnation, live
 * incarnations, the incarnations this process has held (comma-separated, the current one
 * among them), the run_id of the server its last renewal ran on ('' = unknown), and the
 * attempt's client instance: its id ('' = none) and its attemptAt (epoch ms, client's clock).
 * Returns {'late'} | {'moved'} | {'refused', live, orders...} | {'duplicate', live} |
 * {'admitted', live, orders...}, an order being (connection id, node, incarnation, cause:
 * 'idle' or 'superseded'): the new victims (the superseded ones first), then the entries
 * evicted earlier that are still booked, each with the cause its mark keeps. 'duplicate': another
 * owner (another node, or an incarnation this process never held) booked this connection
 * id. 'moved': another server answers than the one the caller's snapshot comes from (see
 * renew, the server key): nothing is written.
 *
 * The rule is the local one (machines/eviction.ts): admitted when the live
 * entries that are not idle leave a slot free; then idle entries are evicted
 * longest idle first while the count including the newcomer is at or above
 * evictAt, entries marked evicted left out of that count (they are leaving, as
 * the idle edge judges them; counting them, each of several simultaneous
 * newcomers went on evicting until no idle one was left, a trial found). A
 * refusal evicts nothing. An admission whose client already gave
 * up on it (past the deadline) changes nothing: a timed-out admit never
 * books a slot behind the caller's back.
 *
 * An evicted entry is not deleted but marked (idleSince 'e<now>'): its socket
 * stays open until its node gets the order, which goes over pub/sub, best
 * effort. The newcomer that evicted it is admitted at once, as a local
 * eviction admits it (a draining connection frees its slot); every later
 * admission counts the marked entry toward the limit (not toward evictAt) until
 * its node releases it, evicting idle ones past evictAt while the marked ones
 * would leave the book above the limit, and names it again (after the new
 * victims) so that a lost order is sent again. So a lost order never lets a
 * later admission past the limit (the victims of the last admission sit beside
 * it until released: the whole book stays within limit + k, k(k−1)/2 < limit,
 * test/cluster/store-property.test.ts), and renewal stays one command. The entry's own node
 * books it again only as a newcomer (it turned active before the order came:
 * the runtime's kept()), unless a reconnect of its client instance superseded it meanwhile
 * (marked 's', the idle order that made its node keep it having gone out first): then it is
 * refused, writing nothing, and named first with cause 'superseded' (the other marked entries
 * after it), so that its node evicts it as superseded and releases it. Booked again, it was a
 * stale attempt (its successor's attempt is later), booked live without its instance: with the
 * superseded order lost, it lived on beside its successor, and no later reconnect named it.
 *
 * A client instance (the local rule: machines/user-supervisor.machine.ts, supersede). The
 * newcomer is booked with it ('|<id>.<attemptAt>' after the node). Before the limit is judged,
 * the user's entries of that instance id booked by an earlier attempt (a smaller attemptAt,
 * any node, idle or not) are its predecessors: the client left them behind. Each is marked
 * evicted with 's<now>' (superseded: its node evicts it idle or not), named first with cause
 * 'superseded', and left out of the count, as an idle victim is: its slot is this admission's
 * (not added to the leaving ones, as evictIdle's victims are not). One already marked stays as
 * it is (named again, with its mark's cause), except that one marked for an idle eviction
 * becomes superseded once this one is admitted ('s', its time kept), so that its node evicts
 * it even if it turned active meanwhile. Unlike an idle victim, a superseded entry does not
 * count toward the limit for later admissions either: its client left it (a dead connection,
 * usually), as a draining connection frees its slot on one process. So a user's devices that
 * reconnect together (a router restart) all get in at once, rather than one per drainTimeoutMs
 * (the time a dead predecessor takes to drain, then be released); the cost, when an order is
 * lost and the predecessor's socket is in fact alive, is one socket past the limit per such
 * reconnect until the user's next admission, idle edge or re-admission by another process
 * names it again (readmit leaves them out too, and names another owner's again, as admit
 * does). An attempt no later than an entry of its instance (marked or not) is stale: it
 * supersedes nothing and is booked without the instance, so that no later reconnect names it. A refusal supersedes nothing (it writes nothing).
 */
export const admitScript = script(
  'admit',
  'an admission',
  `${prelude}
local now = nowMs()
local deadline = tonumber(ARGV[6])
if deadline > 0 and now >= deadline then return {'late'} end
if otherServer(2, ARGV[10]) then return {'moved'} end
local key, id, inc, node = KEYS[1], ARGV[1], tonumber(ARGV[2]), ARGV[3]
local limit, evictAt = tonumber(ARGV[4]), tonumber(ARGV[5])
-- The attempt's client instance ('' = none), and when its client made the attempt.
local instanceId, attemptAt = ARGV[11] or '', tonumber(ARGV[12] or '')
if attemptAt == nil then instanceId = '' end
local isDead = snapshot(7)
local flat = redis.call('HGETALL', key)
local count, idle, existing, evicting = 0, {}, nil, {}
-- Entries of this instance booked by an earlier attempt, not marked evicted (each as idle's
-- tuples); stale: an entry of this instance from this attempt or a later one.
local previous, stale = {}, false
-- Entries of this instance from an earlier attempt already marked for an idle eviction.
local marked = {}
-- The entries marked for an idle eviction ('e'), leaving: counted toward the limit until
-- released (their orders may be lost, their sockets open). Not the superseded ones ('s'): their
-- clients left them (a phone that changed networks), as a draining connection frees its slot on
-- one process; counted, a user's devices coming back together (a router restart) got in one
-- drainTimeoutMs apart, each waiting for the last one's dead predecessor to drain.
local leaving = 0
for i = 1, #flat, 2 do
  local cid = flat[i]
  local einc, admitted, since, enode, einstance = decode(flat[i + 1])
  local ofInstance, eat = false, nil
  if instanceId ~= '' and einstance ~= '' and cid ~= id then
    local eid
    eid, eat = instanceOf(einstance)
    ofInstance = eid == instanceId
  end
  if einc ~= inc and isDead(einc) then
    redis.call('HDEL', key, cid)
  elseif cid == id then
    existing = { einc, admitted, since, enode, einstance }
  else
    if ofInstance and eat >= attemptAt then stale = true end
    if isEvicting(since) then
      evicting[#evicting + 1] = { cid, enode, einc, since }
      if causeOf(since) == 'idle' then leaving = leaving + 1 end
      -- Marked for an idle eviction, and left behind by this attempt's client: superseded
      -- (below, once admitted), so that its node evicts it even if it turned active meanwhile
      -- (kept, it would be booked again, and live on beside its successor).
      if ofInstance and eat < attemptAt and causeOf(since) == 'idle' then
        marked[#marked + 1] = { evicting[#evicting], admitted, einstance }
      end
    elseif ofInstance and eat < attemptAt then
      previous[#previous + 1] = { cid, tonumber(since), einc, enode, admitted, einstance, since }
    else
      count = count + 1
      if since ~= '' then idle[#idle + 1] = { cid, tonumber(since), einc, enode, admitted, einstance } end
    end
  end
end
-- A stale attempt (an entry of its instance is as recent or newer) supersedes nothing, and is
-- booked without the instance, so that no later reconnect names it: its earlier ones count as any.
if stale then
  for _, entry in ipairs(previous) do
    count = count + 1
    if entry[7] ~= '' then idle[#idle + 1] = entry end
  end
  previous = {}
  marked = {}
  instanceId = ''
end
-- count: the other entries not marked evicted, nor superseded by this one; leaving: the ones
-- marked for an idle eviction (of which #marked this one supersedes, if admitted).
if existing then
  -- Idempotent retry, only for the process that booked it: the same node, and
  -- this incarnation or an earlier live one of this process (an admission in
  -- flight across a fence, see renew), whose entry this one takes over. Another
  -- node, or another process with this node id, presenting the id is no retry:
  -- admitting it would count one slot for two sockets, and taking the entry
  -- over would strand the owner's socket without a slot.
  local einc = existing[1]
  if existing[4] ~= node or (einc ~= inc and not listed(ARGV[9], einc)) then
    return { 'duplicate', count + #previous + leaving + 1 }
  end
  -- Superseded, but its node kept it (the order that reached it was the idle one, sent before a
  -- reconnect of its client instance converted the mark; the superseded one may be lost): not
  -- booked again, which would leave it live beside its successor for good (stale, without its
  -- instance, no later reconnect names it). Refused, named first with cause 'superseded' (its
  -- node evicts it as such, and releases it), the other marked entries after it; nothing written.
  if causeOf(existing[3]) == 'superseded' and isEvicting(existing[3]) then
    local out = { 'refused', count + #previous + leaving }
    order(out, id, existing[4], einc, 'superseded')
    return orderAgain(out, evicting)
  end
  -- Marked for an idle eviction, but its node kept it (active again): booked again as a
  -- newcomer, below.
  if not isEvicting(existing[3]) then
    if einc ~= inc then redis.call('HSET', key, id, encode(inc, existing[2], existing[3], node, existing[5])) end
    return { 'admitted', count + #previous + leaving + 1 }
  end
end
-- The limit counts the entries marked for an idle eviction until released (their orders may be
-- lost, their sockets open); the eviction point does not (they are leaving, as a draining
-- connection); neither counts the superseded ones. A refusal writes nothing: the entries of
-- this instance are superseded only by an admission.
if count - #idle + leaving - #marked >= limit then
  return orderAgain({ 'refused', count + #previous + leaving }, evicting)
end
local out = { 'admitted', 0 }
-- The entries this attempt's client instance left behind: marked evicted, superseded (their
-- slots free for this admission, as an idle victim's), named first.
for _, entry in ipairs(previous) do
  redis.call('HSET', key, entry[1], encode(entry[3], entry[5], 's' .. now, entry[4], entry[6]))
  order(out, entry[1], entry[4], entry[3], 'superseded')
end
-- The ones already marked for idleness become superseded (no longer counted, as leaving ones),
-- named again below with their new cause.
for _, entry in ipairs(marked) do
  local tuple = entry[1]
  tuple[4] = 's' .. string.sub(tuple[4], 2)
  redis.call('HSET', key, tuple[1], encode(tuple[3], entry[2], tuple[4], tuple[2], entry[3]))
end
leaving = leaving - #marked
local remaining = evictIdle(key, idle, count + 1, evictAt, now, out, leaving, limit)
local instance = ''
if instanceId ~= '' then instance = instanceId .. '.' .. ARGV[12] end
redis.call('HSET', key, id, encode(inc, now, '', node, instance))
out[2] = remaining + leaving
return orderAgain(out, evicting)
`,
);

/**
 * KEYS[1] the user's book, and KEYS[2] the server key as for admit. ARGV: connectionId,
 * nodeId, the incarnations this process has held (its current one and its last few,
 * comma-separated), and the run_id of its last renewal's server ('' = unknown).
 * Deletes the entry only when one of those booked it: never a newer
 * incarnation's, and never another process's, even one that shares the node
 * id (a misconfiguration, or a restart within the predecessor's lease), whose
 * incarnations are its own. Returns 1 when it deleted, and -1, deleting nothing,
 * when another server answers than that one (as admit's 'moved'): a release the old
 * primary of a failover took would be lost, the slot booked on the new one for good.
 */
export const releaseScript = script(
  'release',
  'a release',
  `${prelude}
if otherServer(2, ARGV[4]) then return -1 end
local value = redis.call('HGET', KEYS[1], ARGV[1])
if not value then return 0 end
local einc, _, _, enode = decode(value)
if enode ~= ARGV[2] or not listed(ARGV[3], einc) then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
`,
);

/**
 * KEYS[1] the user's book, and KEYS[2] the server key as for admit. ARGV: connectionId,
 * incarnation, idleSince (epoch ms, or '' for live again), evictAt (the user's T, 0 included:
 * evictionThreshold 0 makes every idle entry go; '' = do not judge), maxIncarnation, live
 * incarnations, and the run_id of its last renewal's server ('' = unknown). Only this incarnation's own entry is refreshed, and never one evicted
 * (see admit). Returns {0} or {0, orders...} when it wrote nothing, else {1, orders...}, an order being
 * (connection id, node, incarnation, cause) as admit's: the new victims, then the entries evicted
 * earlier that are still booked; {'moved'}, writing nothing, when another
 * server answers than that one (as admit's). Found by a review: without it an edge sent to a
 * failover's old primary was answered as done and lost (under the incarnation the node took
 * on the new one, its entry is not there), and one sent to a server the node had not
 * re-synced on judged the eviction rule on a book that may hold its own lost releases.
 *
 * An idle edge with evictAt judges the eviction rule on the whole book, as admit does but
 * with no newcomer (machines/eviction.ts, the supervisor's idle edge): dead entries are
 * ignored (admit purges them), and so are entries marked evicted (already leaving, as a
 * draining connection frees its slot in the local rule); while the rest number evictAt or
 * more, idle ones are marked evicted longest idle first, on any node. Found by a review:
 * without it, a user's idle connections spread over nodes sat at T until the next admission.
 * Then, as admit does, it names again the entries marked evicted earlier that are still booked
 * (of live incarnations): an order lost on its way (pub/sub is best effort) left the victim's
 * socket open, uncounted by this judgement, until the user's next admission. Bounded as in
 * admit: an entry is named only while it is booked and marked, i.e. until its node releases it
 * (evicted) or books it again as a newcomer (kept, turned active), each of which the order
 * itself brings about; and only by an idle edge that judges (never a live one). That includes
 * an idle edge of an entry marked evicted, which writes and judges nothing (answer {0, orders...})
 * but names the marked entries, its own among them: the runtime sends an edge again when its
 * answer was lost (a timeout after Redis ran it), and when that edge had marked its own entry,
 * answering nothing left the order lost until the user's next admission or another's edge.
 */
export const setIdleScript = script(
  'setIdle',
  "a connection's idle or live edge",
  `${prelude}
if otherServer(2, ARGV[7]) then return { 'moved' } end
local key = KEYS[1]
local value = redis.call('HGET', key, ARGV[1])
if not value then return { 0 } end
local inc = tonumber(ARGV[2])
local einc, admitted, since, enode, einstance = decode(value)
if einc ~= inc then return { 0 } end
local evictAt = tonumber(ARGV[4])
local judges = ARGV[3] ~= '' and evictAt ~= nil
-- Evicted: no edge revives it (it counts until released, and is named again), and an idle
-- edge that judges names the marked entries again, this one among them: it may be this same
-- edge sent again, its answer (the order that marked it) lost on its way.
local marked = isEvicting(since)
if marked and not judges then return { 0 } end
local out = { 0 }
if not marked then
  redis.call('HSET', key, ARGV[1], encode(einc, admitted, ARGV[3], enode, einstance))
  out[1] = 1
  if not judges then return out end
end
local isDead = snapshot(5)
local flat = redis.call('HGETALL', key)
local count, idle, evicting = 0, {}, {}
for i = 1, #flat, 2 do
  local vinc, vadmitted, vsince, vnode, vinstance = decode(flat[i + 1])
  if vinc ~= inc and isDead(vinc) then
    -- Dead: not counted, and never named (its process is gone; admit or the reaper purges it).
  elseif isEvicting(vsince) then
    evicting[#evicting + 1] = { flat[i], vnode, vinc, vsince }
  else
    count = count + 1
    if vsince ~= '' then idle[#idle + 1] = { flat[i], tonumber(vsince), vinc, vnode, vadmitted, vinstance } end
  end
end
if not marked and count >= evictAt then evictIdle(key, idle, count, evictAt, nowMs(), out) end
return orderAgain(out, evicting)
`,
);

/**
 * KEYS[1] the user's book, and KEYS[2] the server key as for admit. ARGV: incarnation,
 * nodeId, limit, maxIncarnation, live incarnations, the incarnations this process has held
 * (comma-separated), the run_id of its last renewal's server ('' = unknown), then
 * (connectionId, admittedAt, idleSince, instance) quadruples, oldest first, instance being
 * '<id>.<attemptAt>' or '' (booked with the entry; one taken over keeps its own). Returns -1, writing nothing,
 * when another server answers than that one (as admit's 'moved'). Purges dead
 * entries, then books each held connection under this incarnation: one this
 * process booked under an earlier live incarnation is taken over where it is
 * (it counted all along: after a fence, see renew), still marked if it was
 * named for eviction; one the book lacks is added while the user has a free
 * slot. Returns {n, the n ids refused..., orders...}: refused, over the limit, or booked by
 * another owner (another node, or another process with this node id); an order being
 * (connection id, node, incarnation, 'superseded') as admit's.
 *
 * A client instance: the supersede rule of admit, whichever of two connections of one
 * instance is booked first (after an outage under 'local', the reconnect may have been
 * admitted on one process while its predecessor, its peer gone, sat on another; each books
 * again what it holds, in either order). A held connection booked (added or taken over) marks
 * the entries of its instance id from an earlier attempt superseded ('s<now>', an idle mark's
 * time kept), on any node: they leave the count, their slot is its own (judged without them,
 * as admit's newcomer). A held connection whose instance has a later attempt booked is the one
 * its client left behind: booked marked superseded (not counted: the later one has the slot).
 * Each is named once, with its node and incarnation after the call. A refused one supersedes
 * nothing. An entry marked superseded earlier counts no more than in admit (its client left
 * it, its node evicts it; counted, a node booking again the reconnects of a crashed node's
 * clients refused them as over the limit while that node's lease ran on), and, as admit does,
 * one of another owner (another node, or another process with this node id) is named again,
 * once, after the ones this call marked: its order may have been lost, and left out of the
 * count, its slot given away, its socket stayed open past the limit. Every other entry
 * counts, marked for an idle eviction or not (the safe side: its socket may still be open),
 * as before. Sent again (its answer lost), the same held connections name
 * the same entries again.
 */
export const readmitScript = script(
  'readmit',
  'a re-admission of the connections this process holds',
  `${prelude}
local key, inc, node, limit = KEYS[1], tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
if otherServer(2, ARGV[7]) then return -1 end
local isDead = snapshot(4)
local now = nowMs()
local flat = redis.call('HGETALL', key)
-- booked[id] = {incarnation, node, idleSince (or mark), instance, counted, admittedAt}
local booked, count = {}, 0
-- Another owner's entries marked superseded before this call (ids, in the book's order): named
-- again at the end, as admit's orderAgain does (the order that marked one may have been lost).
local superseded = {}
-- Instance id -> the ids of its booked entries.
local byInstance = {}
local function index(id, instance)
  local iid = instanceOf(instance)
  if iid == nil then return end
  local list = byInstance[iid]
  if list == nil then byInstance[iid] = { id } else list[#list + 1] = id end
end
for i = 1, #flat, 2 do
  local einc, admitted, since, enode, einstance = decode(flat[i + 1])
  if einc ~= inc and isDead(einc) then
    redis.call('HDEL', key, flat[i])
  else
    -- Superseded ('s'): not counted, as admit leaves them out (their client left them, and
    -- their node evicts them). Counted, a node booking again its reconnects beside a crashed
    -- node's replaced entries (under a lease still running) refused them as over the limit.
    local counted = string.byte(since, 1) ~= 115
    booked[flat[i]] = { einc, enode, since, einstance, counted, admitted }
    index(flat[i], einstance)
    if counted then count = count + 1 end
    if not counted and (enode ~= node or (einc ~= inc and not listed(ARGV[6], einc))) then
      superseded[#superseded + 1] = flat[i]
    end
  end
end
-- The entries of instance's id booked by another attempt than id's: the earlier ones (ids,
-- sorted), and whether a later one is booked.
local function relatives(id, instance)
  local earlier, later = {}, false
  local iid, at = instanceOf(instance)
  if iid == nil then return earlier, later end
  for _, other in ipairs(byInstance[iid] or {}) do
    local _, eat = instanceOf(booked[other][4])
    if other ~= id then
      if eat > at then later = true elseif eat < at then earlier[#earlier + 1] = other end
    end
  end
  table.sort(earlier)
  return earlier, later
end
-- Superseded entries, in the order first marked: named once each, at the end.
local named, seen = {}, {}
local function supersede(id)
  local entry = booked[id]
  local since = entry[3]
  if string.byte(since, 1) ~= 115 then
    since = isEvicting(since) and ('s' .. string.sub(since, 2)) or ('s' .. now)
  end
  entry[3] = since
  redis.call('HSET', key, id, encode(entry[1], entry[6], since, entry[2], entry[4]))
  if entry[5] then
    entry[5] = false
    count = count - 1
  end
  if not seen[id] then
    seen[id] = true
    named[#named + 1] = id
  end
end
local refused = {}
for i = 8, #ARGV, 4 do
  local id = ARGV[i]
  local entry = booked[id]
  if entry ~= nil and (entry[2] ~= node or (entry[1] ~= inc and not listed(ARGV[6], entry[1]))) then
    -- Another owner's: another node's, or another process's with the same node id
    -- (a live incarnation this process never held). A duplicate id: never taken
    -- over, never kept.
    refused[#refused + 1] = id
  else
    -- Its instance: an entry taken over keeps its own (the held connection's when it has none).
    local instance = ARGV[i + 3]
    if entry ~= nil and entry[4] ~= '' then instance = entry[4] end
    local earlier, later = relatives(id, instance)
    local replaced = 0
    for _, other in ipairs(earlier) do
      if booked[other][5] then replaced = replaced + 1 end
    end
    if later then
      -- Left behind by its client: booked (or taken over) superseded, its slot the later one's.
      if entry == nil then
        booked[id] = { inc, node, '', instance, false, ARGV[i + 1] }
        index(id, instance)
      else
        if entry[4] == '' and instance ~= '' then index(id, instance) end
        entry[1], entry[4], entry[6] = inc, instance, ARGV[i + 1]
      end
      supersede(id)
    elseif entry == nil and count - replaced >= limit then
      refused[#refused + 1] = id
    else
      if entry == nil then
        redis.call('HSET', key, id, encode(inc, ARGV[i + 1], ARGV[i + 2], node, instance))
        booked[id] = { inc, node, ARGV[i + 2], instance, true, ARGV[i + 1] }
        index(id, instance)
        count = count + 1
      elseif entry[1] ~= inc then
        -- Ours, from an earlier incarnation: taken over in place, no slot taken or freed. An
        -- eviction mark stays (its newcomer has the slot; the order is named again, with its
        -- cause), and so does the entry's instance (the held connection's when it has none).
        local since = isEvicting(entry[3]) and entry[3] or ARGV[i + 2]
        redis.call('HSET', key, id, encode(inc, ARGV[i + 1], since, node, instance))
        if entry[4] == '' and instance ~= '' then index(id, instance) end
        entry[1], entry[3], entry[4], entry[6] = inc, since, instance, ARGV[i + 1]
      end
      -- Ours, superseded already (this call sent again, the answer that named it lost; its
      -- successor may be gone since): named again, as admit names such an entry of its own.
      if entry ~= nil and string.byte(entry[3], 1) == 115 and not seen[id] then
        seen[id] = true
        named[#named + 1] = id
      end
      -- Its client left those behind: their slots are this one's.
      for _, other in ipairs(earlier) do supersede(other) end
    end
  end
end
-- Another owner's superseded earlier: named again (once), after the ones this call marked. Left
-- out of the count, its slot given away: its order lost, its socket stayed open past the limit.
for _, id in ipairs(superseded) do
  if not seen[id] then
    seen[id] = true
    named[#named + 1] = id
  end
end
local out = { #refused }
for _, id in ipairs(refused) do out[#out + 1] = id end
for _, id in ipairs(named) do
  local entry = booked[id]
  order(out, id, entry[2], entry[1], 'superseded')
end
return out
`,
);

/**
 * KEYS[1] the user's book. ARGV: maxIncarnation, live incarnations, and
 * optionally an incarnation to purge as well (a node stopping). Returns
 * {removed, left}: how many entries it removed, and how many the book holds
 * after (every one of a live incarnation: the reaper's `reaped` event names the
 * users a purge that removed some left with none). Read only by the process that
 * ran it (each version loads its own scripts by SHA), so its answer is no part
 * of the store format: an older version's purge answers its count alone.
 */
export const purgeScript = script(
  'purge',
  "a purge of a dead or stopping process's slots (the reaper's, or stop())",
  `${prelude}
local isDead = snapshot(1)
local retiring = tonumber(ARGV[3] or '0')
local flat = redis.call('HGETALL', KEYS[1])
local removed = 0
for i = 1, #flat, 2 do
  local einc = decode(flat[i + 1])
  if einc == retiring or isDead(einc) then
    redis.call('HDEL', KEYS[1], flat[i])
    removed = removed + 1
  end
end
-- What is left, from what was read: no command more (HLEN would need an ACL rule more).
return {removed, #flat / 2 - removed}
`,
);

/**
 * KEYS: leases, incarnations, counter, server, format. ARGV: incarnation (0 = none yet),
 * leaseTtlMs, nodeId, the run_id of the Redis server the last renewal ran on
 * ('' = none yet, or unknown), the incarnations this process took
 * (comma-separated, the current one last), expired at once when a new one is
 * taken, '1' to fence as for a failover whatever the run_id ('0' otherwise), the
 * store format this process writes (STORE_FORMAT, store-format.ts), and the renewal's
 * deadline (Redis ms; 0 or absent = none: a node's first renewal, before it has measured
 * Redis's clock, and a node of a version that did not pass it, during a rolling upgrade).
 *
 * Late first: a renewal Redis runs at or after its deadline may only extend the lease it
 * renews, in the one case where an in-time run would do just that (this format's marker,
 * the lease unexpired and registered to this node, no failover): the process holds that
 * lease whether it reads the answer or not, and a stall of the process (its command
 * deadline counts the watchdog's ticks, this one is on the wall clock) must not cost it
 * the lease. Anything else returns {'late', now}, having written nothing (no format marker,
 * no server key, no lease, no incarnation). Its caller may have given up on it (a command
 * timeout: the call failed; a caller that still reads this answer renews once more, with a
 * deadline from its TIME, see the store's #renew), and a renewal still in the socket when a
 * paused Redis resumes finds the lease expired: the incarnation it took, and the lease it
 * registered, would be a "ghost" nobody holds, listed beside the node's real one (which its
 * next renewal takes) until the reaper forgets it, and left behind by a graceful stop, which
 * retires only the incarnation the node knows. As admit's 'late', whose deadline the store
 * computes the same way (redis-clock-offset.ts). The reply's now is Redis's TIME: a late
 * answer the caller still read tells it that its reading of this clock was wrong (a clock
 * stepped, another server) or that it stalled, and it reads it again.
 *
 * Then the format: the marker key is set to it when absent; when it holds another, the
 * script returns {'format', found} before anything else, having written nothing (no lease,
 * no incarnation, no server key): two versions whose books, scripts or messages differ
 * would miscount each other's connections, so a node of another format never joins.
 * Checked here, in the script every node runs every TTL/3 anyway, and in the registry's
 * hash slot: no round trip is added, and admissions never read it. Extends the lease while it is unexpired
 * and still registered to this node; otherwise (lost, or first start) takes a
 * new incarnation: the counter plus one, and at least Redis's TIME in ms, so
 * that incarnations keep increasing even across a Redis that lost its data.
 *
 * A failover. A server whose run_id differs from the one the node last saw is
 * another process (a replica promoted, or a restart from an older snapshot),
 * which may have lost the last writes acknowledged before it: a release (a slot
 * booked for a socket long gone) or an admission (a socket outside the book).
 * So the node takes a new incarnation in this same command, even if this server
 * still holds its lease, and then books under it what it holds (readmit). Its
 * earlier leases run on (a TTL from now at least: this server's copy of them
 * misses the renewals the old server took, and may have run out already): their
 * entries count until the re-admission has taken them over, and then the node
 * ends them (retire), so only the slots of lost releases die with them. Ending them here instead would
 * free their slots for the moment until the re-admission: another node's
 * newcomer admitted then would take one, and the socket the re-admission then
 * refuses would be one past the limit. The run_id comes from INFO, through pcall: a server that denies
 * INFO (an ACL without +info, a renamed command) answers '' and renewal goes on
 * as before, without this detection.
 *
 * In a Redis Cluster this server is the registry's master only; a failover of
 * another master (a user's book) is found by the node (redis-servers-seen.ts, the
 * masters' run_ids), whose next renewal passes ARGV[6] = '1' to fence the same way.
 *
 * One command whatever the number of sockets. Returns {status, incarnation,
 * now, maxIncarnation, runId, live incarnations...}, {'late', now} or {'format', found} (above).
 */
export const renewScript = script(
  'renew',
  'the lease renewal',
  `${prelude}
local now = nowMs()
local deadline = tonumber(ARGV[8] or '0') or 0
local late = deadline > 0 and now >= deadline
local format = redis.call('GET', KEYS[5])
if late and format ~= ARGV[7] then return { 'late', now } end
if not format then
  redis.call('SET', KEYS[5], ARGV[7])
elseif format ~= ARGV[7] then
  return { 'format', format }
end
local inc, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
local status = 'renewed'
local score = false
local runId = ''
local info = redis.pcall('INFO', 'server')
if type(info) == 'string' then runId = string.match(info, 'run_id:(%x+)') or '' end
-- The server key: this server's run_id, so that an admission (or a re-admission) sent here
-- by a node whose snapshot comes from another server is refused, not booked (admit's 'moved'):
-- during a failover the old primary may still take writes, which the new one never sees.
-- Not by a late run, which writes no more than the extension (above).
if not late and runId ~= '' and redis.call('GET', KEYS[4]) ~= runId then redis.call('SET', KEYS[4], runId) end
local failedOver = (ARGV[4] ~= '' and runId ~= '' and runId ~= ARGV[4]) or ARGV[6] == '1'
if inc > 0 and redis.call('HGET', KEYS[2], inc) == ARGV[3] then score = redis.call('ZSCORE', KEYS[1], inc) end
if score and tonumber(score) >= now and not failedOver then
  redis.call('ZADD', KEYS[1], now + ttl, inc)
elseif late then
  return { 'late', now }
else
  status = 'lost'
  -- Lost (expired): this process's earlier leases end too, if any still runs here. A
  -- failover leaves them running (see above): the re-admission takes their entries over.
  if not failedOver then
    for s in string.gmatch(ARGV[5], '%d+') do
      if redis.call('HGET', KEYS[2], s) == ARGV[3] then redis.call('ZADD', KEYS[1], 'XX', 0, s) end
    end
  else
    -- This server's copy of them may have run out (the renewals the old server took never
    -- reached it): live again for a TTL, so that their entries count until the re-admission.
    for s in string.gmatch(ARGV[5], '%d+') do
      if redis.call('HGET', KEYS[2], s) == ARGV[3] then redis.call('ZADD', KEYS[1], 'XX', 'GT', now + ttl, s) end
    end
  end
  -- Never below Redis's clock: a Redis that lost its data (restart without
  -- persistence) must not hand out an incarnation some node still holds.
  inc = redis.call('INCR', KEYS[3])
  if inc < now then
    inc = now
    redis.call('SET', KEYS[3], now)
  end
  redis.call('ZADD', KEYS[1], now + ttl, inc)
  redis.call('HSET', KEYS[2], inc, ARGV[3])
end
local out = { status, inc, now, tonumber(redis.call('GET', KEYS[3]) or '0'), runId }
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')) do out[#out + 1] = member end
return out
`,
);

/**
 * KEYS: leases, incarnations. ARGV: nodeId, then incarnations this process held before its
 * current one. Ends each lease still registered to this node at once (its expiry set in
 * the past: expired, not removed, so the reaper still finds its users and purges what is
 * left). Called once the node has booked again under its current incarnation what it holds
 * (readmit), after a failover: what the old incarnations still hold then is slots whose
 * release the failover lost. Returns how many were still unexpired.
 */
export const retireScript = script(
  'retire',
  "the end of this process's earlier leases",
  `${prelude}
local now = nowMs()
local ended = 0
for i = 2, #ARGV do
  if redis.call('HGET', KEYS[2], ARGV[i]) == ARGV[1] then
    local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
    if score and tonumber(score) >= now then ended = ended + 1 end
    redis.call('ZADD', KEYS[1], 'XX', 0, ARGV[i])
  end
end
return ended
`,
);

/**
 * KEYS: leases, incarnations, counter. Returns {now, maxIncarnation,
 * (incarnation, expiry, nodeId) triples...} for every registered lease,
 * expired ones included until they are forgotten.
 */
export const registryScript = script(
  'registry',
  "a read of the registry of leases (the reaper's, or a cluster-wide read or send)",
  `${prelude}
local now = nowMs()
local out = { now, tonumber(redis.call('GET', KEYS[3]) or '0') }
local flat = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #flat, 2 do
  out[#out + 1] = flat[i]
  out[#out + 1] = flat[i + 1]
  out[#out + 1] = redis.call('HGET', KEYS[2], flat[i]) or ''
end
return out
`,
);

/**
 * KEYS: leases, incarnations. ARGV: incarnation, force ('1' for a node
 * retiring its own lease). Removes a lease from the registry, if expired
 * (or forced). A forgotten incarnation stays dead: it is below the counter
 * and in no live list. Returns 1 when it removed.
 */
export const forgetScript = script(
  'forget',
  "forgetting a lease (a dead one, by the reaper, or this process's own at stop())",
  `${prelude}
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score then return 0 end
if ARGV[2] ~= '1' and tonumber(score) >= nowMs() then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
`,
);

/**
 * KEYS[1] an incarnation's index (the reaper's set of the users it booked). ARGV:
 * the index's time to live (ms), 'SADD' or 'SREM', then the users. Adds or removes
 * them, then pushes the index's expiry to the TTL from now. Returns 1 when the index
 * exists afterwards, 0 when not (emptied, or gone: expired, evicted, deleted).
 *
 * Every write of a node to its index goes through this script, so no index ever lives
 * without an expiry: a write that lands after a reaper forgot the incarnation (a node
 * paused past its lease, its admission in flight) makes a set nobody would look for,
 * which then dies on its own (redis-index.ts). Only SADD creates the key; SREM and
 * PEXPIRE never bring back an index that a reaper emptied or stop() deleted. The users
 * go in slices: Lua's unpack() refuses more than a few thousand values at once.
 */
export const indexScript = script(
  'index',
  "a write to the reaper's index of this process's users",
  `
local key, ttl, op = KEYS[1], ARGV[1], ARGV[2]
if op ~= 'SADD' and op ~= 'SREM' then return redis.error_reply('index: unknown operation ' .. tostring(op)) end
for first = 3, #ARGV, 1000 do
  redis.call(op, key, unpack(ARGV, first, math.min(first + 999, #ARGV)))
end
return redis.call('PEXPIRE', key, ttl)
`,
);

export const scripts = [
  admitScript,
  releaseScript,
  setIdleScript,
  readmitScript,
  purgeScript,
  renewScript,
  retireScript,
  registryScript,
  forgetScript,
  indexScript,
] as const;
