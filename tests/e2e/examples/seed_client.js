// API key for authentication
const headers = {
    "X-API-Key": "your-api-key"
};

// Base URL of the Unified API Server
const baseUrl = "http://localhost:8080";

// Get database overview
fetch(`${baseUrl}/api/db/overview`, {
    method: 'GET',
    headers: headers
})
.then(response => response.json())
.then(data => {
    console.log("Database Overview:");
    console.log("Test Stats:", data.test_stats);
    console.log("Generator Stats:", data.generator_stats);
    console.log("Benchmark Stats:", data.benchmark_stats);
})
.catch(error => console.error("Error:", error));

// Search across all databases
fetch(`${baseUrl}/api/db/search?query=bert-base&limit=10`, {
    method: 'POST',
    headers: headers
})
.then(response => response.json())
.then(data => {
    console.log("Search Results:");
    console.log(`Total Matches: ${data.result_counts.total}`);
    console.log(`Test Results: ${data.result_counts.test}`);
    console.log(`Generator Results: ${data.result_counts.generator}`);
    console.log(`Benchmark Results: ${data.result_counts.benchmark}`);
})
.catch(error => console.error("Error:", error));
