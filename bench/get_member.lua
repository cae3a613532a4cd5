-- wrk script: GET /v1/members/{id} over ids 1..PATRON_MEMBERS, spread so
-- consecutive requests touch different pages of the table. The requests are
-- formatted once, when a thread starts, so wrk spends its share of the cores
-- sending, not formatting.
local key = os.getenv("PATRON_KEY")
local members = tonumber(os.getenv("PATRON_MEMBERS") or "10000")
wrk.headers["Authorization"] = "Bearer " .. key
local requests = {}
local counter = 0
init = function(args)
    for i = 1, members do
        requests[i] = wrk.format("GET", "/v1/members/" .. ((i * 7919) % members + 1))
    end
end
request = function()
    counter = counter % members + 1
    return requests[counter]
end
