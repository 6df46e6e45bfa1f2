import requests

# API key for authentication
headers = {
    "X-API-Key": "your-api-key"
}

# Base URL of the Unified API Server
base_url = "http://localhost:8080"

# Get model unified data
model_name = "bert-base-uncased"
response = requests.get(
    f"{base_url}/api/db/model/{model_name}", 
    headers=headers
)
unified_data = response.json()
print(f"Model: {model_name}")
print(f"Total test runs: {unified_data['overview']['total_test_runs']}")
print(f"Total generator tasks: {unified_data['overview']['total_generator_tasks']}")
print(f"Total benchmark runs: {unified_data['overview']['total_benchmark_runs']}")

# Search across all databases
response = requests.post(
    f"{base_url}/api/db/search",
    params={"query": "bert-base", "limit": 10},
    headers=headers
)
search_results = response.json()
print(f"Search results: {search_results['result_counts']['total']} total matches")
