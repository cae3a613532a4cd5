-- wrk script: POST /v1/members/{id}/redemptions under contention: every connection
-- redeems reward PATRON_REWARD for the few members in PATRON_REDEEMERS (comma-separated
-- ids, each holding plenty of points), round robin, each request with its own
-- Idempotency-Key (per wrk thread and request). Each redemption locks its member,
-- spends through the ledger and issues a coupon.
local key = os.getenv("PATRON_KEY")
local reward = os.getenv("PATRON_REWARD")
local members = {}
for id in string.gmatch(os.getenv("PATRON_REDEEMERS") or "", "%d+") do
    members[#members + 1] = id
end
assert(reward and #members > 0, "set PATRON_REWARD and PATRON_REDEEMERS")
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. key
wrk.headers["Content-Type"] = "application/json"
local body = '{"reward_id":' .. reward .. '}'
local threads = 0
setup = function(thread)
    threads = threads + 1
    thread:set("tid", threads .. "-" .. os.time())
end
local counter = 0
request = function()
    counter = counter + 1
    local member = members[counter % #members + 1]
    wrk.headers["Idempotency-Key"] = "redeem-" .. tid .. "-" .. counter
    return wrk.format("POST", "/v1/members/" .. member .. "/redemptions", nil, body)
end
