-- wrk script: POST /v1/checkout/quote, a till asking what a basket earns before
-- booking it: members 1..PATRON_MEMBERS, two lines, the demo's rules and tiers.
local key = os.getenv("PATRON_KEY")
local members = tonumber(os.getenv("PATRON_MEMBERS") or "10000")
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. key
wrk.headers["Content-Type"] = "application/json"
local counter = 0
request = function()
    counter = counter + 1
    local member = (counter * 7919) % members + 1
    local body = '{"member_id":' .. member .. ',"channel":"store",'
        .. '"lines":[{"sku":"GRD-SEC","category":"garden","quantity":2,"amount_cents":4980},'
        .. '{"sku":"KIT-PAN","category":"kitchen","amount_cents":3500}]}'
    return wrk.format("POST", "/v1/checkout/quote", nil, body)
end
