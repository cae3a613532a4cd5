-- wrk script: POST /v1/purchases, a till's baskets: unique order ids (per wrk
-- thread and request) over members 1..PATRON_MEMBERS, two lines each, with an
-- Idempotency-Key. The demo's four earning rules run on every one.
local key = os.getenv("PATRON_KEY")
local members = tonumber(os.getenv("PATRON_MEMBERS") or "10000")
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. key
wrk.headers["Content-Type"] = "application/json"
local threads = 0
setup = function(thread)
    threads = threads + 1
    thread:set("tid", threads .. "-" .. os.time())
end
local counter = 0
request = function()
    counter = counter + 1
    local order = "bench-" .. tid .. "-" .. counter
    local member = (counter * 7919) % members + 1
    local body = '{"member_id":' .. member .. ',"order_id":"' .. order .. '","amount_cents":8480,"channel":"store",'
        .. '"lines":[{"sku":"GRD-SEC","category":"garden","quantity":2,"amount_cents":4980},'
        .. '{"sku":"KIT-PAN","category":"kitchen","amount_cents":3500}]}'
    wrk.headers["Idempotency-Key"] = order
    return wrk.format("POST", "/v1/purchases", nil, body)
end
