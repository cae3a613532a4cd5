-- wrk script: GET /v1/members/{id}/points over ids 1..PATRON_MEMBERS (a till
-- showing the balance before payment).
local key = os.getenv("PATRON_KEY")
local members = tonumber(os.getenv("PATRON_MEMBERS") or "10000")
wrk.headers["Authorization"] = "Bearer " .. key
local counter = 0
request = function()
    counter = counter + 1
    local id = (counter * 7919) % members + 1
    return wrk.format("GET", "/v1/members/" .. id .. "/points")
end
