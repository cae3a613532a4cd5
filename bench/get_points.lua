-- wrk script: GET /v1/members/{id}/points over ids 1..PATRON_MEMBERS (a till
-- showing the balance before payment). The requests are formatted once, when
-- a thread starts, so wrk spends its share of the cores sending, not formatting.
local key = os.getenv("PATRON_KEY")
local members = tonumber(os.getenv("PATRON_MEMBERS") or "10000")
wrk.headers["Authorization"] = "Bearer " .. key
local requests = {}
local counter = 0
init = function(args)
    for i = 1, members do
        local id = (i * 7919) % members + 1
        requests[i] = wrk.format("GET", "/v1/members/" .. id .. "/points")
    end
end
request = function()
    counter = counter % members + 1
    return requests[counter]
end
